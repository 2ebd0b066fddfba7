"""Warm sandboxes are as safe as fresh ones: task A, then task B in the same container.

Every test proves that A and B really shared the container by the start time
of its PID 1 (the agent), which each task reads from /proc/1/stat, and then
checks that nothing of A reached B. Where A ends by a limit or a cancel, the
container must be recycled instead, and B must still get a sound one.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any

import docker
import pytest

from faber_ray.models import ResourceLimits, Task, TaskResult, TaskStatus
from faber_ray.sandbox import container as container_module
from faber_ray.sandbox.reaper import list_sandboxes
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

S = TaskStatus
MiB = 1024**2
#: Prints the start time of PID 1 on its own first line: the same number means the same container.
WHO = "cut -d' ' -f22 /proc/1/stat; "


@pytest.fixture(scope="module")
def sandbox_mode() -> str:
    """This module is about warm mode alone (it overrides the suite's warm/fresh parameter)."""
    return "warm"


@pytest.fixture(scope="module")
def warm(make_runner: Callable[..., SandboxRunner]) -> SandboxRunner:
    """One slot, so A and B must meet in the one warm container there is."""
    runner = make_runner(max_concurrent_tasks=1)
    assert runner.mode == "warm"
    return runner


def sh(runner: SandboxRunner, script: str, **fields: Any) -> TaskResult:
    limits = fields.pop("limits", None)
    return runner.run(Task(command="sh", args=["-c", WHO + script], limits=ResourceLimits(**(limits or {})), **fields))


def py(runner: SandboxRunner, code: str, **fields: Any) -> TaskResult:
    """Python, after the identity line."""
    return sh(runner, f"exec python3 -c {shlex.quote(code)}", **fields)


def pid1(result: TaskResult) -> str:
    return result.stdout.split("\n", 1)[0]


def body(result: TaskResult) -> str:
    return result.stdout.split("\n", 1)[1]


def same_container(a: TaskResult, b: TaskResult) -> bool:
    assert pid1(a).isdigit() and pid1(b).isdigit(), (a.stdout, b.stdout)
    return pid1(a) == pid1(b)


# Files, IPC, processes ---------------------------------------------------------------


def test_files_in_every_writable_mount_are_gone_and_the_disk_is_whole_again(warm: SandboxRunner) -> None:
    a = sh(
        warm,
        "set -e; for d in /work /tmp /dev/shm; do mkdir -p $d/deep/er; echo secret > $d/deep/er/f; "
        "echo top > $d/.hidden; mkdir $d/locked; touch $d/locked/in; chmod 000 $d/locked; done; "
        "python3 -c 'import os; os.mkdir(\"/work/x\"); [os.mkdir(\"/work/x/\" + \"d\" * 200) for _ in [0]]'; "
        "p=/work/tree; for i in $(seq 60); do p=$p/n; done; mkdir -p $p; "  # deeper than the agent's fixed depth
        "python3 -c 'import posix_ipc' 2>/dev/null || true; "
        "python3 -c \"import ctypes; ctypes.CDLL(None).mq_open(b'/q', 0o100 | 2, 0o600, None)\"; "
        "head -c 20000000 /dev/zero > /work/fill 2>/dev/null || true; head -c 20000000 /dev/zero > /tmp/fill 2>/dev/null || true; "
        "ls /dev/mqueue",
        limits={"disk": "8m", "memory": "256m"},
    )
    assert a.status is S.SUCCESS, a.stderr
    assert body(a).split() == ["q"]  # the POSIX message queue exists
    b = sh(
        warm,
        "ls -A /work /tmp /dev/shm /dev/mqueue; "
        "python3 -c \"import os; [print(p, os.statvfs(p).f_bfree == os.statvfs(p).f_blocks) for p in ('/work', '/tmp')]\"",
        limits={"disk": "8m", "memory": "256m"},
    )
    assert b.status is S.SUCCESS, b.stderr
    assert same_container(a, b)
    assert body(b).split() == ["/dev/mqueue:", "/dev/shm:", "/tmp:", "/work:", "/work", "True", "/tmp", "True"]


def test_sysv_ipc_is_gone(warm: SandboxRunner) -> None:
    make = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None)\n"
        "IPC_CREAT = 0o1000\n"
        "shm = libc.shmget(0x1234, 4096, IPC_CREAT | 0o600)\n"
        "msg = libc.msgget(0x1235, IPC_CREAT | 0o600)\n"
        "sem = libc.semget(0x1236, 3, IPC_CREAT | 0o600)\n"
        "libc.shmat(shm, None, 0)\n"  # attached, as a leftover reader would keep it
        "print(shm >= 0, msg >= 0, sem >= 0)\n"
        "for kind in ('shm', 'msg', 'sem'):\n"
        "    print(kind, len(open('/proc/sysvipc/' + kind).read().splitlines()) - 1)\n"
    )
    a = py(warm, make)
    assert a.status is S.SUCCESS, a.stderr
    assert body(a).split() == ["True", "True", "True", "shm", "1", "msg", "1", "sem", "1"]
    b = sh(warm, "for k in shm msg sem; do echo $k $(($(wc -l < /proc/sysvipc/$k) - 1)); done")
    assert same_container(a, b)
    assert body(b).split() == ["shm", "0", "msg", "0", "sem", "0"]


LEFTOVERS = r"""
sleep infinity &
setsid sleep infinity &
python3 -c 'import os, time
if os.fork() == 0:
    if os.fork() == 0:
        time.sleep(100000)
    os._exit(0)' &
python3 -c 'import signal, time
for sig in range(1, signal.NSIG):
    try:
        signal.signal(sig, signal.SIG_IGN)
    except (OSError, ValueError, RuntimeError):
        pass
time.sleep(100000)' &
sh -c 'kill -STOP $$; sleep infinity' &
python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 8765)); s.listen(); open("/tmp/listening", "w").close(); time.sleep(100000)' &
while [ ! -e /tmp/listening ]; do sleep 0.05; done
ls /proc | grep -c '^[0-9]'
"""


def test_no_process_of_a_survives_into_b_and_b_can_bind_its_port(warm: SandboxRunner) -> None:
    a = sh(warm, LEFTOVERS)
    assert a.status is S.SUCCESS, a.stderr
    assert int(body(a)) >= 8  # the agent, the shell, and every leftover were alive when A ended
    b = py(
        warm,
        "import os, socket\n"
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()))\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 8765)); s.listen(); print('bound')\n",
    )
    assert b.status is S.SUCCESS, b.stderr
    assert same_container(a, b)
    assert body(b).split("\n")[:2] == ["[1]", "bound"]
    assert b.resource_usage.peak_processes <= 2


def test_env_stdin_and_output_of_a_are_nowhere_for_b(warm: SandboxRunner) -> None:
    a = sh(warm, "cat; echo the-secret-out-$SECRET", env={"SECRET": "s3cr3t-env"}, stdin="s3cr3t-stdin\n")
    assert body(a) == "s3cr3t-stdin\nthe-secret-out-s3cr3t-env\n"
    search = (
        "import os\n"
        "needle = 's3' + 'cr3t'\n"  # never literally in this program's own command line
        "hits = [k for k, v in os.environ.items() if needle in v]\n"
        "for root in ('/work', '/tmp', '/dev/shm', '/dev/mqueue'):\n"
        "    for d, _, names in os.walk(root):\n"
        "        hits += [os.path.join(d, n) for n in names]\n"
        "for pid in os.listdir('/proc'):\n"
        "    for leaf in ('environ', 'cmdline', 'fd/0'):\n"
        "        try:\n"
        "            if needle.encode() in open(f'/proc/{pid}/{leaf}', 'rb').read():\n"
        "                hits.append(pid + '/' + leaf)\n"
        "        except OSError:\n"
        "            pass\n"
        "print(hits)\n"
    )
    b = py(warm, search)
    assert b.status is S.SUCCESS, b.stderr
    assert same_container(a, b)
    assert body(b) == "[]\n"
    assert "s3cr3t" not in b.stdout + b.stderr


def test_the_agent_keeps_none_of_a_large_input(warm: SandboxRunner) -> None:
    """A relays 12 MiB of stdin through the agent; B, in the same container, finds the agent small
    again (its resident size is public in /proc/1/status even though it is not dumpable)."""
    stdin = b"s3cr3t-input " * (12 * MiB // 13)
    a = sh(warm, "wc -c", stdin=stdin)
    assert (a.status, body(a)) == (S.SUCCESS, f"{len(stdin)}\n"), a.stderr
    b = sh(warm, "grep VmRSS /proc/1/status")
    assert same_container(a, b)
    resident_kib = int(body(b).split()[1])
    assert resident_kib < 4096, body(b)


ATTACK = r"""
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP, signal.SIGINT, signal.SIGCHLD):
    try:
        os.kill(1, sig)
    except OSError as error:
        print("kill", sig, error.errno)
print("ptrace", libc.ptrace(16, 1, None, None), ctypes.get_errno())  # PTRACE_ATTACH
for path in ("/proc/1/mem", "/proc/1/fd/0", "/proc/1/environ", "/proc/1/fd/1"):
    try:
        open(path, "rb").read(1)
        print("opened", path)
    except OSError as error:
        print("refused", path, error.errno)
try:
    open("/.faber-ray/agent", "r+b")
    print("agent writable")
except OSError as error:
    print("agent read-only", error.errno)
status = dict(line.split(":\t", 1) for line in open("/proc/1/status").read().splitlines() if ":\t" in line)
print("agent", status["Uid"].split()[0], status["CapEff"], status["NoNewPrivs"], status["Seccomp"], os.getuid())
"""


def test_a_cannot_signal_trace_read_or_replace_the_agent(warm: SandboxRunner) -> None:
    a = py(warm, ATTACK)
    assert a.status is S.SUCCESS, a.stderr
    lines = body(a).splitlines()
    assert "opened" not in body(a) and "agent writable" not in body(a)
    assert [line for line in lines if line.startswith("ptrace")] == ["ptrace -1 1"]  # EPERM: not dumpable
    # The agent holds no privilege to hand over: same user, no capabilities, no new privileges, filtered.
    agent, uid, capabilities, no_new_privileges, seccomp, task_uid = lines[-1].split()
    assert (agent, uid, capabilities, no_new_privileges, seccomp) == ("agent", task_uid, "0000000000000000", "1", "2")
    assert 10001 <= int(uid) < 10001 + warm.config.sandbox_uids
    b = sh(warm, "echo b-own-output; exit 7")
    assert same_container(a, b)
    assert (b.status, b.exit_code, body(b)) == (S.FAILURE, 7, "b-own-output\n")


# Usage and limits ---------------------------------------------------------------------


def test_b_measures_only_itself_and_gets_its_full_process_limit(warm: SandboxRunner) -> None:
    greedy = (
        "import os, time\n"
        "hog = bytearray(200 * 1024 * 1024)\n"
        "kids = [os.fork() or (time.sleep(0.5), os._exit(0)) for _ in range(30)]\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 1.0: pass\n"
        "for k in kids: os.waitpid(k, 0)\n"
    )
    a = py(warm, greedy, limits={"memory": "512m", "max_processes": 64})
    assert a.status is S.SUCCESS, a.stderr
    assert a.resource_usage.peak_memory > 200 * MiB and a.resource_usage.peak_processes > 30
    spawn = (
        "import os, time\n"
        "kids = []\n"
        "try:\n"
        "    while True:\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            time.sleep(1); os._exit(0)\n"
        "        kids.append(pid)\n"
        "except OSError:\n"
        "    pass\n"
        "print(len(kids))\n"
    )
    b = py(warm, spawn, limits={"memory": "512m", "max_processes": 10})
    assert same_container(a, b)
    assert b.status is S.SUCCESS, b.stderr
    assert int(body(b)) == 10 - 1  # the full limit: python itself (the shell exec'd it) and 9 children
    assert b.resource_usage.peak_processes <= 10
    assert b.resource_usage.cpu_time < 0.9
    assert b.resource_usage.peak_memory < 100 * MiB


@pytest.mark.parametrize(
    ("limits", "code", "status"),
    [
        ({"memory": "64m", "disk": "8m"}, "b = bytearray(128 * 1024 * 1024)", S.MEMORY_LIMIT_EXCEEDED),
        ({"cpu_time": 0.5}, "while True: pass", S.CPU_LIMIT_EXCEEDED),
        ({"timeout": 0.5}, "import time; time.sleep(100)", S.TIMEOUT),
        ({"max_output": 100}, "print('x' * 1000)", S.OUTPUT_LIMIT_EXCEEDED),
    ],
    ids=["memory", "cpu", "wall", "output"],
)
def test_b_is_held_to_its_own_limits_and_a_limit_recycles_the_container(
    warm: SandboxRunner, limits: dict[str, Any], code: str, status: TaskStatus
) -> None:
    a = py(warm, "b = bytearray(100 * 1024 * 1024); print('a ok')", limits={"memory": "512m", "disk": "8m"})
    assert a.status is S.SUCCESS, a.stderr
    b = py(warm, code, limits={"disk": "8m", **limits})
    assert same_container(a, b)
    assert b.status is status
    c = sh(warm, "echo sound", limits={"disk": "8m"})
    assert c.status is S.SUCCESS and body(c) == "sound\n"
    assert not same_container(b, c)  # recycled after the limit, not reused


def test_b_is_held_to_its_own_process_limit(warm: SandboxRunner) -> None:
    a = py(warm, "import os; [os.fork() or os._exit(0) for _ in range(40)]", limits={"max_processes": 64})
    assert a.status is S.SUCCESS, a.stderr
    spawn = (
        "import os, time\n"
        "try:\n"
        "    for _ in range(40):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(2); os._exit(0)\n"
        "except OSError:\n"
        "    print('refused')\n"
    )
    b = py(warm, spawn, limits={"max_processes": 8})
    assert same_container(a, b)
    assert "refused" in b.stdout
    assert "max_processes" in b.resource_limits_exceeded


def test_another_disk_size_is_another_container(warm: SandboxRunner) -> None:
    """disk sizes the mounts, which cannot change: a task with another disk never shares."""
    code = "import os; s = os.statvfs('/work'); print(s.f_blocks * s.f_frsize)"
    a = py(warm, code, limits={"disk": "8m"})
    b = py(warm, code, limits={"disk": "16m"})
    assert (body(a), body(b)) == (f"{8 * MiB}\n", f"{16 * MiB}\n")
    assert not same_container(a, b)


def test_a_cancelled_task_recycles_the_container(warm: SandboxRunner) -> None:
    started = threading.Event()
    result: dict[str, TaskResult] = {}

    def run_a() -> None:
        result["a"] = warm.run(Task(command="sh", args=["-c", WHO + "exec sleep infinity"]), "a-" + str(time.time()),
                               listener=lambda *_: started.set())

    thread = threading.Thread(target=run_a)
    thread.start()
    assert started.wait(60)
    (running,) = warm.running()
    assert warm.cancel(running)
    thread.join()
    assert result["a"].status is S.CANCELLED
    b = sh(warm, "echo fine")
    assert b.status is S.SUCCESS and not same_container(result["a"], b)


def test_a_reset_the_agent_cannot_prove_clean_recycles(
    warm: SandboxRunner, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Give the agent a 'writable' mount it cannot empty (the read-only /etc): its own check must fail."""
    real = container_module.container_spec

    def with_etc(*args: Any, **kwargs: Any) -> Any:
        spec = real(*args, **kwargs)
        spec.container["command"] = [*spec.container["command"], "/etc"]
        return spec

    monkeypatch.setattr(container_module, "container_spec", with_etc)
    warm.drain_idle()
    a = sh(warm, "echo a")
    monkeypatch.undo()
    with caplog.at_level("WARNING", logger="faber_ray.sandbox.runner"):
        b = sh(warm, "echo b")
    assert a.status is S.SUCCESS and b.status is S.SUCCESS
    assert not same_container(a, b)
    # Recycled for the agent's own doubt about /etc, not for anything else (a death, a limit).
    doubts = [record.getMessage() for record in caplog.records if "recycled" in record.getMessage()]
    assert len(doubts) == 1 and "/etc" in doubts[0], doubts


def test_drain_idle_waits_for_the_sweepers_removal_in_flight(
    make_runner: Callable[..., SandboxRunner], docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container the sweeper took out of the pool, and is still removing, is not left when drain_idle returns.

    The engine's removal is slowed so the sweeper is surely mid-way when drain_idle runs (CI once
    found such a container in state "removing" after the suite's own drain)."""
    runner = make_runner(max_concurrent_tasks=1, warm_idle_seconds=0.5)
    taken = threading.Event()
    real = container_module.SandboxContainer.remove

    def slow(self: Any) -> None:
        taken.set()
        time.sleep(2)
        real(self)

    monkeypatch.setattr(container_module.SandboxContainer, "remove", slow)
    a = sh(runner, "echo a")
    assert a.status is S.SUCCESS, a
    assert taken.wait(30), "the sweeper never recycled the idle container"
    assert runner.drain_idle() == 0  # nothing idle any more: the sweeper has it
    ours = [box for box in list_sandboxes(docker_client) if box["owner"] == runner.owner and box["node_id"] == runner.node_id]
    assert ours == [], ours


# Ownership ----------------------------------------------------------------------------

OWNER = textwrap.dedent(
    """
    import sys, time
    from faber_ray.config import ExecutorConfig
    from faber_ray.models import Task
    from faber_ray.sandbox.runner import SandboxRunner
    runner = SandboxRunner(ExecutorConfig(sandbox_mode="warm"), node_id=sys.argv[1], owner="doomed")
    print(runner.run(Task(command="true")).sandbox, flush=True)
    time.sleep(600)
    """
)


def test_warm_containers_go_when_their_owner_dies(docker_client: docker.DockerClient, sandbox_node_id: str) -> None:
    """A SIGKILLed owner cannot clean up: its idle container's agent sees the channel close and exits."""
    node = f"{sandbox_node_id}-doomed"
    owner = subprocess.Popen([sys.executable, "-c", OWNER, node], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "warm"
        assert len(list_sandboxes(docker_client, node)) == 1  # idle, kept for reuse
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 30
    while list_sandboxes(docker_client, node) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list_sandboxes(docker_client, node) == []

