"""Under gVisor the agent's channel is out of the task's reach, and forged frames change nothing.

gVisor does not honour PR_SET_DUMPABLE for ``/proc/1/fd``: a task of the
agent's own uid could open the agent's stdin and stdout (the channel, under
gVisor) and write frames the host believed. The agent now runs as a user of
its own inside gVisor's kernel, with only the capabilities it needs to drop
to the task's uid and to kill the task's processes, so ``/proc/1/fd`` belongs
to another user. Against the real ``runsc``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from faber_ray.models import ResourceLimits, Task, TaskStatus
from faber_ray.sandbox.agent.protocol import AgentMessage, frame
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

S = TaskStatus


@pytest.fixture(scope="module")
def gvisor(runsc: None, make_runner: Callable[..., SandboxRunner]) -> SandboxRunner:
    return make_runner(runtime="runsc")


PROBE = r"""
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
for path, flags in (("/proc/1/fd/0", os.O_RDONLY), ("/proc/1/fd/0", os.O_WRONLY), ("/proc/1/fd/1", os.O_WRONLY),
                    ("/proc/1/fd/1", os.O_RDONLY), ("/proc/1/mem", os.O_RDONLY)):
    try:
        os.open(path, flags)
        print("opened", path, flags)
    except OSError as error:
        print("refused", path, error.errno)
try:
    os.kill(1, signal.SIGKILL)
    print("signalled the agent")
except OSError as error:
    print("kill", error.errno)
print("ptrace", libc.ptrace(16, 1, None, None), ctypes.get_errno())
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
print("task", os.getuid(), os.geteuid(), os.getgid(), os.getgroups(), status["CapEff"], status["CapPrm"])
"""


def test_a_task_under_gvisor_cannot_open_the_agents_channel(gvisor: SandboxRunner) -> None:
    result = gvisor.run(Task(command="python3", args=["-c", PROBE]))
    assert result.status is S.SUCCESS, result.stderr or result.error
    assert "opened" not in result.stdout and "signalled" not in result.stdout, result.stdout
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:5]] == ["refused"] * 5
    assert lines[5] == "kill 1" and lines[6] == "ptrace -1 1"
    # The task holds nothing of the agent's: its own non-root uid, no groups, no capabilities.
    task, uid, euid, _gid, groups, effective, permitted = lines[7].split(" ", 6)[:4] + lines[7].split(" ")[4:]
    assert task == "task" and uid == euid and int(uid) > 0
    assert (groups, effective, permitted) == ("[]", "0000000000000000", "0000000000000000")


def _exit_frame(wait_status: int, stdout_bytes: int) -> bytes:
    return frame(AgentMessage.EXIT, struct.pack(">iBiQQQBI", wait_status, 0, 0, 1_000_000, stdout_bytes, 0, 0, 1))


#: Frames the host would take for the agent's: forged output, a forged SUCCESS, a forged listing and file.
FORGED = (
    frame(AgentMessage.OUT, b"\x01forged stdout\n")
    + _exit_frame(0, 14)
    + frame(AgentMessage.ENTRIES, struct.pack(">BQIH", 1, 4, 1, 21) + b"../../etc/cron.d/evil")
    + frame(AgentMessage.LISTED, b"\x00")
    + frame(AgentMessage.FILE, struct.pack(">Q", 4))
    + frame(AgentMessage.DATA, b"evil")
)

FORGER = f"""
import os, sys, time
forged = {FORGED!r}
for path in ("/proc/1/fd/1", "/proc/1/fd/0"):
    try:
        fd = os.open(path, os.O_WRONLY)
        os.write(fd, forged)
        print("forged through", path, file=sys.stderr, flush=True)
    except OSError as error:
        print("refused", path, error.strerror, file=sys.stderr, flush=True)
time.sleep(30)
sys.exit(1)
"""


def test_a_task_that_forges_frames_gets_its_own_verdict(gvisor: SandboxRunner) -> None:
    """It should time out; forged frames would have made it SUCCESS with forged stdout and a file
    named ../../etc/cron.d/evil."""
    result = gvisor.run(
        Task(command="python3", args=["-c", FORGER], limits=ResourceLimits(timeout=3), collect=["**"])
    )
    assert result.status is S.TIMEOUT, result
    assert "forged" not in result.stdout and "forged through" not in result.stderr, result.stderr
    assert result.stderr.count("refused") == 2
    assert result.files == {} and not any("evil" in name for name in result.file_errors), result.file_errors


def test_the_agent_collects_with_the_tasks_rights_under_gvisor(gvisor: SandboxRunner) -> None:
    """The agent is root of gVisor's kernel without CAP_DAC_*: it reads the workspace as the task, so a
    private file in a private directory of the task's comes back, and nothing the task could not read."""
    script = (
        "mkdir -m 700 private && echo mine > private/f && chmod 600 private/f"
        " && python3 -c \"import os; print(os.stat('private/f').st_uid)\""
    )
    result = gvisor.run(Task(command="sh", args=["-c", script], collect=["private/f"]))
    assert result.status is S.SUCCESS, result.stderr
    assert result.files == {"private/f": b"mine\n"}, result.file_errors
    assert result.stdout.strip() != "0"  # the task's own uid owns what it wrote, not the agent's
