"""SandboxRunner against the real Docker engine: statuses, limits, hardening, I/O, cleanup.

Every module-level test runs in both sandbox modes (the ``sandbox_mode``
fixture). Every check of the sandbox's hardening runs *inside* the container.
No test asserts on how long something took; where a limit must be shown to
work, the test asserts the status and the measured usage instead.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
from sandbox_support import TEST_NODE_ID

from faber_ray.models import ResourceLimits, Task, TaskResult, TaskStatus
from faber_ray.sandbox.cgroup import CGROUP_ROOT, cgroup_version, tcp_share
from faber_ray.sandbox.labels import owner_process
from faber_ray.sandbox.reaper import list_sandboxes
from faber_ray.ids import new_execution_id
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

MiB = 1024**2
S = TaskStatus


def run(runner: SandboxRunner, command: str, *args: str, **fields: Any) -> TaskResult:
    limits = fields.pop("limits", None)
    return runner.run(Task(command=command, args=list(args), limits=ResourceLimits(**(limits or {})), **fields))


def sh(runner: SandboxRunner, script: str, **fields: Any) -> TaskResult:
    return run(runner, "sh", "-c", script, **fields)


def py(runner: SandboxRunner, code: str, *args: str, **fields: Any) -> TaskResult:
    return run(runner, "python3", "-c", code, *args, **fields)


def leftover_cgroups(_execution_id: str = "") -> list[Path]:
    """Per-run cgroups still there; none may outlive its run (a warm container's own cgroup stays)."""
    top = CGROUP_ROOT / "faber-ray" if cgroup_version(CGROUP_ROOT) == 2 else CGROUP_ROOT / "memory" / "faber-ray"
    # Only this session's containers: another test run may share the engine.
    ours = {box["id"] for box in list_sandboxes(docker.from_env()) if box["node_id"].startswith(TEST_NODE_ID)}
    return [path for path in top.glob("**/step-*") if any(part in ours for part in path.parts)]


def started_listener() -> tuple[threading.Event, Callable[[int | None, str, bytes], None]]:
    """An event set once the task writes its first output: proof that it is running."""
    event = threading.Event()
    return event, lambda _step, _stream, _data: event.set()


#: Prints once it runs, then sleeps until it is killed (so a kill can never miss it under load).
SLEEPER = ("sh", "-c", "echo started; exec sleep infinity")


# Statuses ----------------------------------------------------------------------


def test_success(runner: SandboxRunner) -> None:
    result = run(runner, "echo", "hi")
    assert result.status is S.SUCCESS
    assert (result.exit_code, result.stdout, result.stderr) == (0, "hi\n", "")
    assert result.error is None
    assert result.resource_limits_exceeded == []
    assert not result.stdout_truncated and not result.stderr_truncated
    assert result.resource_usage.wall_time > 0
    assert leftover_cgroups(result.execution_id) == []


def test_failure_keeps_exit_code_and_both_streams(runner: SandboxRunner) -> None:
    result = sh(runner, "echo out; echo err >&2; exit 3")
    assert result.status is S.FAILURE
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert result.error is None


def test_exit_137_of_its_own_is_failure_not_a_limit(runner: SandboxRunner) -> None:
    """A task passing on a SIGKILL it sent itself, far below the memory limit, is a plain failure."""
    result = sh(runner, "sleep 30 & kill -9 $!; wait $!; exit $?")
    assert result.status is S.FAILURE
    assert result.exit_code == 137
    assert result.resource_limits_exceeded == []


@pytest.mark.parametrize("files", [None, {"f.txt": "x"}], ids=["direct", "with-files"])
def test_command_not_found_is_failure_127(runner: SandboxRunner, files: dict | None) -> None:
    result = runner.run(Task(command="no-such-command-xyz", files=files))
    assert result.status is S.FAILURE
    assert result.exit_code == 127
    assert "no-such-command-xyz" in result.stderr
    assert result.error is None


def test_timeout(runner: SandboxRunner) -> None:
    result = run(runner, "sleep", "30", limits={"timeout": 1})
    assert result.status is S.TIMEOUT
    assert result.resource_limits_exceeded == ["timeout"]
    assert result.exit_code == 137
    assert leftover_cgroups(result.execution_id) == []


MEMORY_BOMBS = {
    "one-allocation": ("python3", "-c", "b = bytearray(256 * 1024 * 1024)"),
    "growing": (
        "python3", "-c",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(4 * 1024 * 1024))",
    ),
    # The bomb is a child: the shell survives and exits 0, yet the cgroup saw the kill.
    "child": ("sh", "-c", "python3 -c 'b = bytearray(256 * 1024 * 1024)'; echo child=$?"),
}


@pytest.mark.parametrize("argv", MEMORY_BOMBS.values(), ids=MEMORY_BOMBS.keys())
def test_memory_limit_exceeded(runner: SandboxRunner, argv: tuple[str, ...]) -> None:
    memory = 64 * MiB
    result = run(runner, *argv, limits={"memory": memory, "disk": "8m", "timeout": 60})
    assert result.status is S.MEMORY_LIMIT_EXCEEDED
    assert "memory" in result.resource_limits_exceeded
    # The peak is read from the parent cgroup, which the kernel charges in per-CPU
    # batches of 64 pages: it may sit a little above the container's own limit.
    assert memory // 2 < result.resource_usage.peak_memory <= memory + MiB
    if argv[0] == "sh":
        assert result.stdout == "child=137\n"
    else:
        assert result.exit_code == 137
    assert leftover_cgroups(result.execution_id) == []


def test_memory_and_swap_limits_are_equal(runner: SandboxRunner) -> None:
    """No swap: memory+swap is capped at the memory limit, read from inside on the task's own cgroup.
    On v1, where TCP buffers have a counter of their own, the two limits share the memory."""
    memory = 96 * MiB
    result = sh(
        runner,
        "cd /sys/fs/cgroup; if [ -f cgroup.controllers ]; then d=$(basename $(cut -d: -f3 /proc/self/cgroup)); "
        "echo v2 $(cat $d/memory.max) $(cat $d/memory.swap.max) 0; else "
        "d=memory/$(basename $(grep ':memory:' /proc/self/cgroup | cut -d: -f3)); "
        "echo v1 $(cat $d/memory.limit_in_bytes) $(cat $d/memory.memsw.limit_in_bytes) "
        "$(cat $d/memory.kmem.tcp.limit_in_bytes); fi",
        limits={"memory": memory},
    )
    assert result.status is S.SUCCESS, result.stderr
    version, limit, swap, tcp = result.stdout.split()
    assert int(limit) + int(tcp) == memory
    assert int(tcp) == (tcp_share(memory) if version == "v1" else 0)
    assert int(swap) == (int(limit) if version == "v1" else 0)


BUSY = "while True: pass"


def test_cpu_limit_exceeded(runner: SandboxRunner) -> None:
    result = py(runner, BUSY, limits={"cpu_time": 1, "timeout": 60})
    assert result.status is S.CPU_LIMIT_EXCEEDED
    assert result.resource_limits_exceeded == ["cpu_time"]
    assert result.resource_usage.cpu_time >= 1


def test_cpu_time_is_summed_over_processes_in_parallel(make_runner: Callable[..., SandboxRunner]) -> None:
    """Two busy processes on two cores: the sandbox's CPU time is their sum."""
    two_cores = make_runner(sandbox_cpus=2)
    result = sh(
        two_cores,
        f"python3 -c '{BUSY}' & python3 -c '{BUSY}' & wait",
        limits={"cpu_time": 1, "timeout": 60},
    )
    assert result.status is S.CPU_LIMIT_EXCEEDED
    assert result.resource_limits_exceeded == ["cpu_time"]
    assert result.resource_usage.cpu_time >= 1


def test_cpu_time_is_summed_even_when_no_process_reaches_the_limit(runner: SandboxRunner) -> None:
    """Each child burns 0.7 s of its own CPU and exits: only the sum (1.4 s) is over 1 s.

    A per-process limit (RLIMIT_CPU) would let this task succeed.
    """
    burn = (
        "import os, time\n"
        "def burn():\n"
        "    while time.process_time() < 0.7: pass\n"
        "children = []\n"
        "for _ in range(2):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        burn(); os._exit(0)\n"
        "    children.append(pid)\n"
        "for pid in children: os.waitpid(pid, 0)\n"
        "print('both finished')\n"
    )
    result = py(runner, burn, limits={"cpu_time": 1, "timeout": 60})
    assert result.status is S.CPU_LIMIT_EXCEEDED
    assert result.stdout == ""  # killed before both children could finish
    assert result.resource_usage.cpu_time >= 1


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_limit_exceeded(runner: SandboxRunner, stream: str) -> None:
    cap = 10_000
    redirect = "" if stream == "stdout" else " >&2"
    result = sh(runner, f"yes 0123456789{redirect}", limits={"max_output": cap, "timeout": 60})
    other = "stderr" if stream == "stdout" else "stdout"
    assert result.status is S.OUTPUT_LIMIT_EXCEEDED
    assert result.resource_limits_exceeded == ["max_output"]
    kept = getattr(result, stream)
    assert len(kept.encode()) == cap
    assert ("0123456789\n" * (cap // 11 + 1)).startswith(kept)
    assert getattr(result, f"{stream}_truncated") is True
    assert getattr(result, f"{other}_truncated") is False
    assert getattr(result, other) == ""
    assert getattr(result.resource_usage, f"{stream}_bytes") > cap


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_output_exactly_at_the_cap_is_kept_whole(runner: SandboxRunner, stream: str) -> None:
    cap = 4096
    result = py(runner, f"import sys; sys.{stream}.write('z' * {cap})", limits={"max_output": cap})
    assert result.status is S.SUCCESS
    assert getattr(result, stream) == "z" * cap
    assert getattr(result, f"{stream}_truncated") is False


def test_cancel_from_another_thread(runner: SandboxRunner) -> None:
    execution_id = new_execution_id()
    running, listener = started_listener()
    outcome: dict[str, bool] = {}

    def cancel_when_running() -> None:
        outcome["running"] = running.wait(120)
        outcome["cancelled"] = runner.cancel(execution_id, reason="cancelled by the test")

    canceller = threading.Thread(target=cancel_when_running)
    canceller.start()
    result = runner.run(Task(command=SLEEPER[0], args=list(SLEEPER[1:]), limits=ResourceLimits(timeout=300)),
                        execution_id, listener=listener)
    canceller.join()
    assert outcome == {"running": True, "cancelled": True}
    assert result.status is S.CANCELLED
    assert result.execution_id == execution_id
    assert result.resource_limits_exceeded == []  # it was the cancel, not the timeout
    assert result.exit_code == 137
    assert result.error == "cancelled by the test while it was running"
    assert runner.running() == []
    assert leftover_cgroups(execution_id) == []


def test_cancel_of_unknown_or_finished_execution(runner: SandboxRunner) -> None:
    assert runner.cancel("no-such-execution") is False
    result = run(runner, "true")
    assert runner.cancel(result.execution_id) is False


def test_cancel_between_acquire_and_start(make_runner: Callable[..., SandboxRunner]) -> None:
    """A cancel that lands after the container is there but before the command starts must still stop it."""

    class CancelJustBeforeStart(SandboxRunner):
        def _acquire(self, *args: Any) -> Any:
            acquired = super()._acquire(*args)
            (execution_id,) = self.running()
            assert self.cancel(execution_id)  # nothing runs yet: the command must never get going
            return acquired

    base = make_runner()
    racing = CancelJustBeforeStart(base.config, node_id=base.node_id, owner=base.owner, client=base.client)
    try:
        result = run(racing, *SLEEPER, limits={"timeout": 300})
    finally:
        racing.close()
    assert result.status is S.CANCELLED
    assert result.resource_limits_exceeded == []  # stopped by the cancel, not by the timeout
    assert result.stdout == ""


def test_cancel_before_start_never_creates_a_container(runner: SandboxRunner) -> None:
    execution_id = new_execution_id()
    assert runner.cancel(execution_id, before_start=True) is True
    result = runner.run(Task(command="sleep", args=["30"]), execution_id)
    assert result.status is S.CANCELLED
    assert result.exit_code is None
    assert result.error == "cancelled before it started"
    assert runner.running() == []


def test_missing_image_is_error(runner: SandboxRunner) -> None:
    result = runner.run(Task(command="echo", image="faber-ray/no-such-image:0"))
    assert result.status is S.ERROR
    assert result.exit_code is None
    assert result.error is not None and "not found" in result.error and "docker pull" in result.error
    assert "faber-ray/no-such-image:0" in result.error
    assert result.image == "faber-ray/no-such-image:0"


def test_unknown_runtime_is_error(make_runner: Callable[..., SandboxRunner]) -> None:
    result = run(make_runner(runtime="faber-no-such-runtime"), "echo")
    assert result.status is S.ERROR
    assert result.error is not None
    assert "faber-no-such-runtime" in result.error and "daemon.json" in result.error


def test_invalid_task_is_refused_by_the_runner_itself(runner: SandboxRunner) -> None:
    """Paths validation refuses (a file under a file) reach the runner unchecked: it checks for itself."""
    result = runner.run(Task(command="true", files={"a": "file", "a/b": "under a file"}))
    assert result.status is S.ERROR
    assert result.error is not None and "files.a/b" in result.error


# Hardening, checked from inside ------------------------------------------------


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("id -g", "10001"),
        ("grep CapEff /proc/self/status", "CapEff:\t0000000000000000"),
        ("grep CapPrm /proc/self/status", "CapPrm:\t0000000000000000"),
        ("grep CapBnd /proc/self/status", "CapBnd:\t0000000000000000"),
        ("grep NoNewPrivs /proc/self/status", "NoNewPrivs:\t1"),
        ("ls /sys/class/net", "lo"),
        ("pwd", "/work"),
        ("echo $HOME", "/work"),
        ("hostname", "sandbox"),
        ("ulimit -c", "0"),
    ],
)
def test_hardening(runner: SandboxRunner, script: str, expected: str) -> None:
    result = sh(runner, script)
    assert result.status is S.SUCCESS, result.stderr
    assert result.stdout.strip() == expected


def test_runs_as_a_non_root_uid_of_the_nodes_range(runner: SandboxRunner) -> None:
    """Each live container has a host uid of its own, from sandbox_user's up (see test_host_uids.py)."""
    result = sh(runner, "id -u")
    assert result.status is S.SUCCESS, result.stderr
    assert 10001 <= int(result.stdout) < 10001 + runner.config.sandbox_uids


def test_no_network_route(runner: SandboxRunner) -> None:
    result = py(
        runner,
        "import errno, socket\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=5)\n"
        "    print('connected')\n"
        "except OSError as error:\n"
        "    print(errno.errorcode.get(error.errno, error))",
    )
    assert result.status is S.SUCCESS
    assert result.stdout.strip() == "ENETUNREACH"


# /var/tmp is world-writable in the image: only the read-only root stops the write.
@pytest.mark.parametrize("directory", ["/", "/etc", "/usr/bin", "/var/tmp"])
def test_root_filesystem_is_read_only(runner: SandboxRunner, directory: str) -> None:
    result = sh(runner, f"touch {directory.rstrip('/')}/probe")
    assert result.status is S.FAILURE
    assert "Read-only file system" in result.stderr


@pytest.mark.parametrize("directory", ["/work", "/tmp"])
def test_scratch_directories_are_writable_and_executable(runner: SandboxRunner, directory: str) -> None:
    script = "printf '#!/bin/sh\\necho ran from $(pwd)\\n' > script.sh && chmod +x script.sh && ./script.sh"
    result = sh(runner, f"cd {directory} && {script}")
    assert result.status is S.SUCCESS, result.stderr
    assert result.stdout == f"ran from {directory}\n"


@pytest.mark.parametrize("directory", ["/work", "/tmp"])
def test_scratch_directories_are_sized_to_disk(runner: SandboxRunner, directory: str) -> None:
    disk = 8 * MiB
    code = f"import os; s = os.statvfs({directory!r}); print(s.f_blocks * s.f_frsize)"
    result = py(runner, code, limits={"disk": disk})
    assert result.status is S.SUCCESS
    assert int(result.stdout) == disk


FILL = """
import errno, os, sys
chunk = b"x" * (1024 * 1024)
mebibytes, names = int(sys.argv[1]), sys.argv[2:]
for name in names:
    try:
        with open(name, "wb") as handle:
            for _ in range(mebibytes):
                handle.write(chunk)
                handle.flush()
    except OSError as error:
        print(errno.errorcode[error.errno])
print(sum(os.path.getsize(name) for name in names if os.path.exists(name)))
"""


@pytest.mark.parametrize(
    ("mebibytes", "paths", "errors"),
    [
        (64, ["/work/big"], {"EFBIG", "ENOSPC"}),  # RLIMIT_FSIZE or the tmpfs, whichever first
        (64, ["/tmp/big"], {"EFBIG", "ENOSPC"}),
        (5, ["/work/a", "/work/b"], {"ENOSPC"}),  # each file is under the cap: the tmpfs size stops them
        (5, ["/tmp/a", "/tmp/b"], {"ENOSPC"}),
    ],
    ids=["workdir", "tmp", "workdir-two-files", "tmp-two-files"],
)
def test_disk_cap(runner: SandboxRunner, mebibytes: int, paths: list[str], errors: set[str]) -> None:
    disk = 8 * MiB
    result = py(runner, FILL, str(mebibytes), *paths, limits={"disk": disk, "memory": "128m"})
    assert result.status is S.SUCCESS, result.stderr
    *raised, total = result.stdout.split()
    assert len(raised) == 1 and set(raised) <= errors
    assert int(total) <= disk


def test_file_size_signal_is_reported_as_disk(runner: SandboxRunner) -> None:
    """dd (not PID 1, so SIGXFSZ kills it) writes past the cap; the shell passes on 128+25."""
    result = sh(runner, "dd if=/dev/zero of=big bs=1M count=32 2>/dev/null; exit $?", limits={"disk": "8m"})
    assert result.exit_code == 153
    assert result.status is S.FAILURE
    assert "disk" in result.resource_limits_exceeded


SPAWN = (
    "import os, time\n"
    "children = []\n"
    "try:\n"
    "    for _ in range(100):\n"
    "        pid = os.fork()\n"
    "        if pid == 0:\n"
    "            time.sleep(1); os._exit(0)\n"
    "        children.append(pid)\n"
    "except OSError as error:\n"
    "    print('refused', error.errno)\n"
    "for pid in children: os.waitpid(pid, 0)\n"
    "print(len(children))\n"
)


def test_process_limit(runner: SandboxRunner) -> None:
    result = py(runner, SPAWN, limits={"max_processes": 16})
    assert result.status is S.SUCCESS, result.stderr
    refused, spawned = result.stdout.splitlines()
    assert refused == "refused 11"  # EAGAIN
    assert int(spawned) + 1 <= 16  # the parent counts too
    assert 0 < result.resource_usage.peak_processes <= 16
    assert "max_processes" in result.resource_limits_exceeded


def test_fork_bomb_is_contained_and_ends(runner: SandboxRunner) -> None:
    bomb = (
        "import os\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    result = py(runner, bomb, limits={"max_processes": 16, "cpu_time": 1, "timeout": 60})
    assert result.status is S.CPU_LIMIT_EXCEEDED
    assert 0 < result.resource_usage.peak_processes <= 16
    assert "max_processes" in result.resource_limits_exceeded


# Processes, input and output ---------------------------------------------------


def test_background_child_does_not_hold_the_task(runner: SandboxRunner) -> None:
    """Were the task held until the child ended, it would end by its timeout instead."""
    result = sh(runner, "sleep infinity & echo done", limits={"timeout": 120})
    assert result.status is S.SUCCESS
    assert result.stdout == "done\n"
    assert result.resource_limits_exceeded == []


def test_non_utf8_output_is_replaced(runner: SandboxRunner) -> None:
    result = sh(runner, r"printf '\377\376ok'; printf '\300' >&2")
    assert result.status is S.SUCCESS
    assert result.stdout == "\ufffd\ufffdok"
    assert result.stderr == "\ufffd"


def test_files_and_stdin_together(runner: SandboxRunner) -> None:
    script = (
        "import sys\n"
        "print(open('top.txt').read(), end='')\n"
        "print(open('deep/er/nested.txt').read(), end='')\n"
        "print(open('data/blob.bin', 'rb').read().hex())\n"
        "print(sys.stdin.read(), end='')\n"
        "open('deep/er/nested.txt', 'a').write('writable')\n"
    )
    result = runner.run(
        Task(
            command="python3",
            args=["main.py"],
            files={
                "main.py": script,
                "top.txt": "top\n",
                "deep/er/nested.txt": "nested\n",
                "data/blob.bin": b"\x00\xff\x10",
            },
            stdin="from stdin\n",
        )
    )
    assert result.status is S.SUCCESS, result.stderr
    assert result.stdout == "top\nnested\n00ff10\nfrom stdin\n"


def test_staged_files_are_executable(runner: SandboxRunner) -> None:
    result = runner.run(Task(command="./tool.sh", files={"tool.sh": "#!/bin/sh\necho tool $1\n"}, args=["ok"]))
    assert result.status is S.SUCCESS, result.stderr
    assert result.stdout == "tool ok\n"


def test_environment_reaches_the_process(runner: SandboxRunner) -> None:
    result = runner.run(
        Task(
            command="python3",
            args=["-c", "import os; print(repr(os.environ['FOO']), repr(os.environ['EMPTY']), os.environ['HOME'])"],
            env={"FOO": "bar baz=1 'q'", "EMPTY": "", "HOME": "/tmp"},
        )
    )
    assert result.status is S.SUCCESS
    assert result.stdout == "\"bar baz=1 'q'\" '' /tmp\n"


def test_large_stdin_round_trips(runner: SandboxRunner) -> None:
    data = bytes(range(256)) * (8 * 1024)  # 2 MiB, every byte value
    result = py(
        runner,
        "import hashlib, sys; d = sys.stdin.buffer.read(); print(len(d), hashlib.sha256(d).hexdigest())",
        stdin=data,
    )
    assert result.status is S.SUCCESS, result.stderr
    assert result.stdout.split() == [str(len(data)), hashlib.sha256(data).hexdigest()]


def test_unread_large_stdin_does_not_block(runner: SandboxRunner) -> None:
    result = run(runner, "true", stdin=b"x" * (4 * MiB))
    assert result.status is S.SUCCESS


def test_large_output_under_the_cap_is_complete(runner: SandboxRunner) -> None:
    size = 768 * 1024
    result = py(runner, f"import sys; sys.stdout.write('a' * {size}); sys.stderr.write('b' * {size})")
    assert result.status is S.SUCCESS
    assert (len(result.stdout), len(result.stderr)) == (size, size)
    assert set(result.stdout) == {"a"} and set(result.stderr) == {"b"}
    assert (result.resource_usage.stdout_bytes, result.resource_usage.stderr_bytes) == (size, size)


# Usage and identity --------------------------------------------------------------


def test_resource_usage_is_plausible(runner: SandboxRunner) -> None:
    result = sh(runner, "sleep 0.2; echo slept")
    usage = result.resource_usage
    assert result.status is S.SUCCESS
    assert usage.wall_time >= 0.2
    assert usage.cpu_time > 0
    assert usage.peak_memory > 0
    assert usage.startup_time > 0
    assert usage.stdout_bytes == len("slept\n")
    assert usage.stderr_bytes == 0


def test_result_names_node_image_and_execution(runner: SandboxRunner, sandbox_node_id: str) -> None:
    execution_id = new_execution_id()
    result = runner.run(Task(command="true"), execution_id)
    assert result.execution_id == execution_id
    assert result.node_id == sandbox_node_id
    assert result.image == runner.config.default_image
    assert result.attempts == 1


def test_fresh_execution_ids_differ() -> None:
    assert len({new_execution_id() for _ in range(100)}) == 100


def test_runs_in_parallel_on_one_runner(runner: SandboxRunner) -> None:
    """Three tasks on one runner at once: each says when it started and ended (host and sandboxes
    share the clock), and every pair's intervals overlap."""
    results: dict[int, TaskResult] = {}
    stamp = "import time; print(time.time(), flush=True); time.sleep(1.5); print(time.time())"

    def one(number: int) -> None:
        results[number] = py(runner, stamp)

    threads = [threading.Thread(target=one, args=(number,)) for number in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result.status is S.SUCCESS for result in results.values())
    spans = [tuple(map(float, result.stdout.split())) for result in results.values()]
    assert all(start < end for start, end in spans)
    assert max(start for start, _ in spans) < min(end for _, end in spans), spans
    assert len({result.execution_id for result in results.values()}) == 3


def test_containers_carry_the_labels(
    runner: SandboxRunner, docker_client: docker.DockerClient, sandbox_node_id: str
) -> None:
    execution_id = new_execution_id()
    running, listener = started_listener()
    seen: list[dict[str, str]] = []

    def look() -> None:
        try:
            if running.wait(120):
                seen.extend(box for box in list_sandboxes(docker_client, sandbox_node_id) if box["state"] == "running")
        finally:
            runner.cancel(execution_id)

    watcher = threading.Thread(target=look)
    watcher.start()
    result = runner.run(Task(command=SLEEPER[0], args=list(SLEEPER[1:])), execution_id, listener=listener)
    watcher.join()
    assert result.status is S.CANCELLED
    assert len(seen) == 1
    (box,) = seen
    assert (box["node_id"], box["owner"], box["mode"], box["owner_process"]) == (
        sandbox_node_id, runner.owner, runner.mode, owner_process(),
    )
    if runner.mode == "fresh":
        assert box["execution_id"] == execution_id
    assert result.sandbox == runner.mode


# gVisor --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gvisor(runsc: None, make_runner: Callable[..., SandboxRunner]) -> SandboxRunner:
    return make_runner(runtime="runsc")


def test_gvisor_hardening(gvisor: SandboxRunner) -> None:
    result = sh(gvisor, "id -u; grep CapEff /proc/self/status; touch /var/tmp/probe; dmesg | head -n 1")
    assert result.status is S.SUCCESS, result.error or result.stderr
    uid, capabilities, kernel = result.stdout.splitlines()
    # A uid of the node's range (uids.py); the agent is another user (test_gvisor_channel.py).
    assert 10001 <= int(uid) < 10001 + gvisor.config.sandbox_uids
    assert capabilities == "CapEff:\t0000000000000000"
    assert "gVisor" in kernel  # really the gVisor kernel, not the host's
    assert "Read-only file system" in result.stderr


def test_gvisor_process_limit(gvisor: SandboxRunner) -> None:
    result = py(gvisor, SPAWN, limits={"max_processes": 16})
    assert result.status is S.SUCCESS, result.error or result.stderr
    refused, spawned = result.stdout.splitlines()
    assert refused == "refused 11"
    assert int(spawned) + 1 <= 16


@pytest.mark.parametrize(
    ("argv", "limits", "status"),
    [
        (("sleep", "30"), {"timeout": 1}, S.TIMEOUT),
        (("python3", "-c", BUSY), {"cpu_time": 1, "timeout": 60}, S.CPU_LIMIT_EXCEEDED),
        (("python3", "-c", "b = bytearray(256 * 1024 * 1024)"), {"memory": "64m", "disk": "8m"},
         S.MEMORY_LIMIT_EXCEEDED),
        (("yes",), {"max_output": 10_000}, S.OUTPUT_LIMIT_EXCEEDED),
    ],
    ids=["timeout", "cpu", "memory", "output"],
)
def test_gvisor_limits(gvisor: SandboxRunner, argv: tuple[str, ...], limits: dict, status: TaskStatus) -> None:
    result = run(gvisor, *argv, limits=limits)
    assert result.status is status, result.error
