"""What a task may take from the host is counted, in both sandbox modes (issue 13, B).

* the output of a whole task (every stream of every step) is held to ``max_task_output``;
* SysV IPC, POSIX message queues and ``/dev/shm`` do not cross from one step to the next,
  so a step cannot use memory an earlier step was charged for;
* the memory cgroups made for each run do not linger after it by the hundred.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from faber_ray.models import ResourceLimits, Step, Task, TaskResult, TaskStatus
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

S = TaskStatus
KiB = 1024
MiB = 1024**2


def sh(script: str, **fields: object) -> Step:
    return Step(command="sh", args=["-c", script], **fields)  # type: ignore[arg-type]


def kept(result: TaskResult) -> int:
    """Bytes of output the result carries, over every step (ASCII output: characters are bytes)."""
    runs = result.steps if result.steps is not None else [result]
    return sum(len(run.stdout) + len(run.stderr) for run in runs)


# Output per task ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_total(make_runner: Callable[..., SandboxRunner]) -> SandboxRunner:
    """A task may return 1 MiB in all, and each stream of a step 1 MiB (the default)."""
    return make_runner(max_task_output=MiB)


def test_the_steps_output_counts_against_the_tasks_total(small_total: SandboxRunner) -> None:
    """Eight steps of 200 KB each are each under ``max_output``, 1.6 MB in sum: the sixth reaches the total."""
    write = "head -c 200000 /dev/zero | tr '\\0' a"
    result = small_total.run(Task(steps=[sh(write) for _ in range(8)]))
    assert result.status is S.OUTPUT_LIMIT_EXCEEDED, result
    assert result.resource_limits_exceeded == ["max_task_output"]
    steps = result.steps or []
    assert [step.status for step in steps] == [S.SUCCESS] * 5 + [S.OUTPUT_LIMIT_EXCEEDED]
    assert kept(result) == MiB  # exactly the total: the sixth step keeps what was left of it
    assert len(steps[-1].stdout) == MiB - 5 * 200_000 and steps[-1].stdout_truncated
    assert steps[-1].resource_usage.stdout_bytes > len(steps[-1].stdout)  # it was killed, not ignored


def test_a_step_that_continues_after_the_total_gets_no_output(small_total: SandboxRunner) -> None:
    write = "head -c 700000 /dev/zero | tr '\\0' a"
    steps = [sh(write, continue_on_failure=True), sh(write, continue_on_failure=True), sh("echo late")]
    result = small_total.run(Task(steps=steps))
    assert [step.status for step in result.steps or []] == [S.SUCCESS, S.OUTPUT_LIMIT_EXCEEDED, S.OUTPUT_LIMIT_EXCEEDED]
    assert kept(result) == MiB
    assert (result.stdout, result.stdout_truncated) == ("", True)


BOTH_STREAMS = r"""
import os
for _ in range(20):
    os.write(1, b"o" * 40000)
    os.write(2, b"e" * 40000)
print("never reached", flush=True)
"""


def test_one_command_writing_both_streams_is_held_to_the_total(make_runner: Callable[..., SandboxRunner]) -> None:
    """800 KB to each stream, under a 1 MiB ``max_output`` each, but 1.6 MB against a 1 MB total."""
    runner = make_runner(max_task_output=1_000_000)
    result = runner.run(Task(command="python3", args=["-c", BOTH_STREAMS]))
    assert result.status is S.OUTPUT_LIMIT_EXCEEDED, result
    assert result.resource_limits_exceeded == ["max_task_output"]
    assert len(result.stdout) + len(result.stderr) == 1_000_000
    assert set(result.stdout) == {"o"} and set(result.stderr) == {"e"}
    assert result.stdout_truncated or result.stderr_truncated
    assert result.exit_code == 137  # killed


def test_the_default_total_allows_the_usual_output(runner: SandboxRunner) -> None:
    result = runner.run(Task(steps=[sh("head -c 900000 /dev/zero | tr '\\0' a") for _ in range(3)]))
    assert result.status is S.SUCCESS, result
    assert kept(result) == 2_700_000


def test_a_per_stream_cap_still_wins_below_the_total(small_total: SandboxRunner) -> None:
    result = small_total.run(Task(command="sh", args=["-c", "yes"], limits=ResourceLimits(max_output=1000)))
    assert result.status is S.OUTPUT_LIMIT_EXCEEDED
    assert result.resource_limits_exceeded == ["max_output"]
    assert len(result.stdout) == 1000


# IPC between the steps of one task -------------------------------------------------------

MAKE_IPC = r"""
import ctypes, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
IPC_CREAT = 0o1000
size = 96 << 20
shm = libc.shmget(0x5151, size, IPC_CREAT | 0o600)
address = libc.shmat(shm, None, 0)
ctypes.memset(address, 1, size)  # charged to this step
msg = libc.msgget(0x5152, IPC_CREAT | 0o600)
sem = libc.semget(0x5153, 1, IPC_CREAT | 0o600)
fd = os.open("/dev/shm/shared", os.O_CREAT | os.O_RDWR, 0o600)
os.write(fd, b"x" * (4 << 20))
queue = libc.mq_open(b"/q", 0o100 | 2, 0o600, None)
open("/work/kept.txt", "w").write("from step 0\n")
print(shm >= 0, msg >= 0, sem >= 0, queue >= 0, flush=True)
"""

USE_IPC = r"""
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
found = []
for name, call in (("shm", lambda: libc.shmget(0x5151, 0, 0)), ("msg", lambda: libc.msgget(0x5152, 0)),
                   ("sem", lambda: libc.semget(0x5153, 0, 0)), ("mq", lambda: libc.mq_open(b"/q", 2)),
                   ("locked", lambda: libc.shmget(0x5154, 0, 0))):
    if call() >= 0:
        found.append(name)
shm = libc.shmget(0x5151, 0, 0)
if shm >= 0:  # the hole: write all of the earlier step's segment, charged to nobody
    address = libc.shmat(shm, None, 0)
    ctypes.memset(address, 2, 96 << 20)
print("found", *found, "shm-files", *sorted(os.listdir("/dev/shm")), "work", open("/work/kept.txt").read().strip())
"""


def _ipc_task(*, with_mqueue: bool = True) -> Task:
    make = MAKE_IPC if with_mqueue else MAKE_IPC.replace('libc.mq_open(b"/q", 0o100 | 2, 0o600, None)', "-1")
    return Task(steps=[
        Step(command="python3", args=["-c", make], limits=ResourceLimits(memory="256m", disk="8m")),
        Step(command="python3", args=["-c", USE_IPC], limits=ResourceLimits(memory="32m", disk="8m")),
    ])


def test_the_next_step_finds_no_ipc_of_the_last(runner: SandboxRunner) -> None:
    result = runner.run(_ipc_task())
    make, use = result.steps or []
    assert (make.status, make.stdout) == (S.SUCCESS, "True True True True\n"), make
    assert use.status is S.SUCCESS, use
    assert use.stdout == "found shm-files work from step 0\n"  # nothing left but the workspace
    assert use.resource_usage.peak_memory < 32 * MiB


def test_the_next_step_finds_no_sysv_ipc_under_gvisor(runsc: None, make_runner: Callable[..., SandboxRunner]) -> None:
    """gVisor does not list SysV objects in /proc/sysvipc: the agent finds them by id. POSIX message
    queues cannot be listed there at all (no /dev/mqueue), so they are not part of this check."""
    gvisor = make_runner(runtime="runsc")
    churn = Step(command="python3", args=["-c", (
        "import ctypes; libc = ctypes.CDLL(None)\n"
        "for _ in range(300):\n"  # ids under gVisor only grow: the first segment is far below the last
        "    libc.shmctl(libc.shmget(0, 4096, 0o1000 | 0o600), 0, None)\n"
        "libc.shmget(0x5154, 4096, 0o1000 | 0o000)\n"  # and one nobody may read
    )])
    task = _ipc_task(with_mqueue=False)
    task = Task(steps=[churn, *(task.steps or [])])
    result = gvisor.run(task)
    churned, make, use = result.steps or []
    assert churned.status is S.SUCCESS, churned
    assert (make.status, make.stdout) == (S.SUCCESS, "True True True False\n"), make
    assert (use.status, use.stdout) == (S.SUCCESS, "found shm-files work from step 0\n"), use


# Memory cgroups that outlive their run -----------------------------------------------------

#: Drops one image file from the page cache and reads it again, so its pages are charged to this
#: run's cgroup: what any task whose reads miss the cache does (after memory pressure, say). Each
#: test run starts at a random file: evicting a file an earlier run charged would free that run's
#: cgroup and hide this run's growth.
EVICT_AND_READ = r"""
import os, sys
files = sorted(os.path.join(d, f) for d, _, fs in os.walk("/usr") for f in fs)
number = int(sys.argv[1])
while True:
    try:
        fd = os.open(files[number % len(files)], os.O_RDONLY | os.O_NOFOLLOW)
        if os.fstat(fd).st_size:
            break
        os.close(fd)
    except OSError:
        pass
    number += 1
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
while os.read(fd, 1 << 16):
    pass
"""


def memory_cgroups() -> int:
    """Memory cgroups on the host, the dying ones included (v1 and v2 alike)."""
    for line in Path("/proc/cgroups").read_text().splitlines():
        fields = line.split()
        if fields[0] == "memory":
            return int(fields[2])
    raise AssertionError("no memory controller in /proc/cgroups")


def _growth(runner: SandboxRunner, tasks: int, bound: int, *, evict: bool = True) -> int:
    """Memory cgroups more on the host after ``tasks`` runs (and their containers gone) that read
    evicted files, or (``evict=False``) that read nothing: the same churn of containers and run
    cgroups, so what the host's other processes add meanwhile."""
    start = random.randrange(1 << 20)
    before = memory_cgroups()
    for number in range(start, start + tasks):
        args = ["-c", EVICT_AND_READ, str(number)] if evict else ["-c", "pass"]
        result = runner.run(Task(command="python3", args=args))
        assert result.status is S.SUCCESS, result
    runner.drain_idle()
    grew = memory_cgroups() - before
    for _ in range(100):  # the kernel frees a released cgroup asynchronously, later under load
        if grew < bound:
            break
        time.sleep(0.1)
        grew = memory_cgroups() - before
    return grew


def test_run_cgroups_do_not_linger_by_the_hundred(make_runner: Callable[..., SandboxRunner]) -> None:
    """Before the fix every one of these runs left a dying memory cgroup behind (+298 for 300 warm
    tasks, +40 for 40 fresh ones; +225 and +72, +122 and +110 over the windows below). The count
    is the host's: other processes make cgroups too (and runs elsewhere that miss the cache this one
    reclaimed leave theirs), so a window whose growth is over the bound is measured again, up to
    three times, each beside a window of the same runs reading nothing evicted, whose growth is the
    host's own; without the fix every window grows by one or two per task more than its control."""
    runner = make_runner(max_concurrent_tasks=1)
    tasks, bound = (300, 40) if runner.mode == "warm" else (60, 30)
    assert runner.run(Task(command="true")).status is S.SUCCESS
    windows = []
    for _ in range(3):
        grew = _growth(runner, tasks, bound)
        if grew < bound:
            return
        control = _growth(runner, tasks, bound, evict=False)
        windows.append((grew, control))
        if grew - max(control, 0) < bound:
            return
    pytest.fail(f"memory cgroups grew by {windows} (reading evicted files, reading nothing) over windows of {tasks} tasks")


def test_ipc_the_agent_cannot_clear_stops_the_task(runsc: None, make_runner: Callable[..., SandboxRunner]) -> None:
    """Under gVisor the agent scans SysV ids up to the highest in use, at most 65,536: a step that
    churned past that, keeping a segment, stops the task with an error before the next step."""
    gvisor = make_runner(runtime="runsc")
    churn = (
        "import ctypes; libc = ctypes.CDLL(None)\n"
        "libc.shmget(0x5155, 4096, 0o1000 | 0o600)\n"
        "for _ in range(66000):\n"
        "    libc.shmctl(libc.shmget(0, 4096, 0o1000 | 0o600), 0, None)\n"
    )
    result = gvisor.run(Task(steps=[Step(command="python3", args=["-c", churn]), sh("echo never")]))
    assert result.status is S.ERROR
    assert result.error is not None and "IPC" in result.error and "step 0" in result.error, result.error
    assert [step.status for step in result.steps or []] == [S.SUCCESS]
