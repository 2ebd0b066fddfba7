"""Verdicts a task cannot fake and limits it cannot hide, against the real engine (both modes, and gVisor).

An exit code is the program's own: ``exit 152`` is not the CPU limit and
``exit 153`` is not the disk limit, and neither recycles a warm container. A
fork loop under gVisor, which takes the whole sandbox down with it, still
ends with a verdict that names ``max_processes``, never ``ERROR`` (which is
retried as an infrastructure fault).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from faber_ray.models import ResourceLimits, Task, TaskResult, TaskStatus
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

S = TaskStatus
#: The start time of PID 1 (the agent): the same number means the same container.
WHO = "cut -d' ' -f22 /proc/1/stat; "


@pytest.fixture(scope="module")
def one_slot(make_runner: Callable[..., SandboxRunner]) -> SandboxRunner:
    """One slot, so in warm mode consecutive tasks meet in one container unless it is recycled."""
    return make_runner(max_concurrent_tasks=1)


def sh(runner: SandboxRunner, script: str, **limits: object) -> TaskResult:
    limited = ResourceLimits(**limits)  # type: ignore[arg-type]
    return runner.run(Task(command="sh", args=["-c", script], limits=limited))


@pytest.mark.parametrize("code", [152, 153])
def test_an_exit_code_is_never_a_limit(one_slot: SandboxRunner, code: int) -> None:
    before = sh(one_slot, WHO + f"exit {code}")
    assert (before.status, before.exit_code, before.resource_limits_exceeded) == (S.FAILURE, code, []), before
    assert before.resource_usage.cpu_time < 30
    after = sh(one_slot, WHO + "true")
    assert after.status is S.SUCCESS
    if one_slot.mode == "warm":  # a task that ended by itself leaves its container to the next one
        assert after.stdout == before.stdout


def test_a_self_sent_sigxcpu_is_not_the_cpu_limit(one_slot: SandboxRunner) -> None:
    result = sh(one_slot, "kill -XCPU $$")
    assert (result.status, result.exit_code, result.resource_limits_exceeded) == (S.FAILURE, 152, []), result


# gVisor: a fork loop ---------------------------------------------------------------

FORK_LOOP = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"


def test_a_fork_loop_under_gvisor_names_the_process_limit(
    runsc: None, make_runner: Callable[..., SandboxRunner]
) -> None:
    """The loop exhausts the sandbox's host tasks and gVisor's Sentry stops with it: the task used up
    its own process budget, which is its verdict (never ERROR, which would run it again)."""
    runner = make_runner(runtime="runsc")
    result = runner.run(Task(command="python3", args=["-c", FORK_LOOP], limits=ResourceLimits(timeout=12)))
    assert result.status is not S.ERROR, result
    assert "max_processes" in result.resource_limits_exceeded, result
    assert result.status in (S.FAILURE, S.TIMEOUT), result
    assert result.resource_usage.peak_processes > 0, result


#: A real SIGXCPU, but from a RLIMIT_CPU the program set itself, far below the task's CPU limit.
OWN_RLIMIT = "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (1, 2))\nwhile True: pass\n"


def test_a_sigxcpu_from_the_programs_own_rlimit_is_not_the_tasks_cpu_limit(one_slot: SandboxRunner) -> None:
    result = one_slot.run(Task(command="python3", args=["-c", OWN_RLIMIT], limits=ResourceLimits(cpu_time=20)))
    assert (result.status, result.exit_code, result.resource_limits_exceeded) == (S.FAILURE, 152, []), result
