"""How a run's observations become its facts, without an engine."""

from __future__ import annotations

import errno
import signal

import pytest

from faber_ray.config import ExecutorConfig
from faber_ray.models import ResourceLimits, TaskStatus
from faber_ray.sandbox.cgroup import CgroupUsage
from faber_ray.sandbox.outcome import judge_run
from faber_ray.sandbox.agent.protocol import End, ExitFlag, ExitReport
from faber_ray.status import decide_status

LIMITS = ExecutorConfig().resolve_limits(ResourceLimits(memory="64m", disk="8m"))
KILLED = signal.SIGKILL  # a wait status: terminated by SIGKILL


def report(wait_status: int = 0, end: End = End.RAN, err: int = 0, flags: ExitFlag = ExitFlag(0)) -> ExitReport:
    return ExitReport(wait_status, end, err, 1_000_000, 0, 0, flags, 0, "")


def judge(rep: ExitReport | None, usage: CgroupUsage | None = None, **options: object) -> tuple[TaskStatus, object]:
    facts = judge_run(rep, usage or CgroupUsage(processes=1), LIMITS, "cmd",
                      cpu_kill_sent=bool(options.pop("cpu", False)), cancelled=bool(options.pop("cancelled", False)),
                      **options)  # type: ignore[arg-type]
    return decide_status(facts), facts


def test_an_exit_that_beat_the_timeout_kill_keeps_its_own_result() -> None:
    """The agent sent the kill at the deadline, but the command had already exited 0."""
    status, facts = judge(report(0, flags=ExitFlag.TIMEOUT))
    assert (status, facts.exit_code, facts.limits_hit) == (TaskStatus.SUCCESS, 0, set())  # type: ignore[attr-defined]


def test_a_kill_by_the_timeout_is_a_timeout() -> None:
    status, facts = judge(report(KILLED, flags=ExitFlag.TIMEOUT))
    assert (status, facts.exit_code) == (TaskStatus.TIMEOUT, 137)  # type: ignore[attr-defined]


def test_the_cpu_kill_counts_only_if_it_ended_the_command() -> None:
    assert judge(report(KILLED), cpu=True)[0] is TaskStatus.CPU_LIMIT_EXCEEDED
    assert judge(report(3 << 8), cpu=True)[0] is TaskStatus.FAILURE


def test_refused_forks_and_oom_kills_come_from_the_cgroup() -> None:
    status, facts = judge(report(2 << 8), CgroupUsage(processes=5, pids_limit_hits=3))
    assert (status, facts.limits_hit) == (TaskStatus.FAILURE, {"max_processes"})  # type: ignore[attr-defined]
    # A child was OOM-killed and the shell carried on: still the memory limit.
    assert judge(report(0), CgroupUsage(oom_kills=1))[0] is TaskStatus.MEMORY_LIMIT_EXCEEDED


@pytest.mark.parametrize(("err", "code"), [(errno.ENOENT, 127), (errno.EACCES, 126)])
def test_a_command_that_cannot_run_is_the_tasks_failure(err: int, code: int) -> None:
    status, facts = judge(report(end=End.EXEC, err=err))
    assert (status, facts.exit_code) == (TaskStatus.FAILURE, code)  # type: ignore[attr-defined]
    assert "cmd" in facts.note  # type: ignore[attr-defined]


def test_staging_that_runs_out_of_disk_is_an_error_naming_disk() -> None:
    status, facts = judge(report(end=End.STAGING, err=errno.ENOSPC))
    assert status is TaskStatus.ERROR and "disk" in facts.limits_hit  # type: ignore[attr-defined]


def test_output_over_its_cap_is_flagged_whatever_the_exit() -> None:
    assert judge(report(KILLED, flags=ExitFlag.STDOUT_OVER))[0] is TaskStatus.OUTPUT_LIMIT_EXCEEDED


def test_a_sandbox_that_died_is_an_error_unless_gvisor_says_why() -> None:
    assert judge(None, died=True)[0] is TaskStatus.ERROR
    at_limit = CgroupUsage(peak_memory=LIMITS.memory)
    assert judge(None, at_limit, died=True, shared_cgroup=True)[0] is TaskStatus.MEMORY_LIMIT_EXCEEDED
    out_of_tasks = CgroupUsage(pids_limit_hits=4)
    status, facts = judge(None, out_of_tasks, died=True, shared_cgroup=True)
    assert (status, facts.exit_code, facts.limits_hit) == (TaskStatus.FAILURE, 137, {"max_processes"})  # type: ignore[attr-defined]


def test_a_cancel_wins() -> None:
    assert judge(report(KILLED, flags=ExitFlag.KILLED), cancelled=True)[0] is TaskStatus.CANCELLED


# Exit codes are not limits: only a real SIGXCPU / SIGXFSZ is ---------------------------

EXITED_152, EXITED_153 = 152 << 8, 153 << 8


def test_exit_152_without_the_cpu_used_is_the_programs_own_exit() -> None:
    status, facts = judge(report(EXITED_152), CgroupUsage(processes=1, cpu_time=0.0))
    assert (status, facts.exit_code, facts.limits_hit) == (TaskStatus.FAILURE, 152, set())  # type: ignore[attr-defined]


def test_exit_152_with_the_cpu_used_is_a_shell_whose_child_hit_the_cpu_limit() -> None:
    """sh reports a child killed by SIGXCPU as 152; the cgroup shows the CPU time was really spent."""
    used = CgroupUsage(processes=2, cpu_time=LIMITS.cpu_time + 1)
    assert judge(report(EXITED_152), used)[0] is TaskStatus.CPU_LIMIT_EXCEEDED


def test_a_sigxcpu_death_counts_only_with_the_cpu_used() -> None:
    """RLIMIT_CPU sits above the limit, so a real SIGXCPU always comes with the CPU time; a self-sent one does not."""
    assert judge(report(signal.SIGXCPU), CgroupUsage(cpu_time=LIMITS.cpu_time + 1))[0] is TaskStatus.CPU_LIMIT_EXCEEDED
    status, facts = judge(report(signal.SIGXCPU), CgroupUsage(cpu_time=0.01))
    assert (status, facts.exit_code, facts.limits_hit) == (TaskStatus.FAILURE, 152, set())  # type: ignore[attr-defined]


def test_a_sigxcpu_counts_when_the_commands_own_kernel_saw_its_rlimit_reached() -> None:
    """gVisor's clock, which enforced RLIMIT_CPU, runs ahead of the host's under load: the agent's flag
    (from the command's own rusage) says the CPU time was spent even when the host's cgroup saw less."""
    assert judge(report(signal.SIGXCPU, flags=ExitFlag.CPU_RLIMIT), CgroupUsage(cpu_time=0.6))[0] is (
        TaskStatus.CPU_LIMIT_EXCEEDED
    )
    assert judge(report(EXITED_152, flags=ExitFlag.CPU_RLIMIT))[0] is TaskStatus.CPU_LIMIT_EXCEEDED


def test_exit_153_is_not_the_disk_limit_but_a_sigxfsz_death_is() -> None:
    status, facts = judge(report(EXITED_153))
    assert (status, facts.exit_code, facts.limits_hit) == (TaskStatus.FAILURE, 153, set())  # type: ignore[attr-defined]
    status, facts = judge(report(signal.SIGXFSZ))
    assert (status, facts.exit_code, facts.limits_hit) == (TaskStatus.FAILURE, 153, {"disk"})  # type: ignore[attr-defined]


def test_exit_153_is_the_disk_limit_when_the_agent_saw_the_space_used_up() -> None:
    """A shell passes on its child's SIGXFSZ as 153: the agent flags it when a writable mount held
    RLIMIT_FSIZE bytes (or was full) as the command ended."""
    status, facts = judge(report(EXITED_153, flags=ExitFlag.FSIZE_FULL))
    assert (status, facts.limits_hit) == (TaskStatus.FAILURE, {"disk"})  # type: ignore[attr-defined]


def test_a_gvisor_sandbox_that_died_with_its_processes_at_the_limit_names_the_limit() -> None:
    """The agent's live count reached max_processes before the sandbox went: the task's own doing."""
    at_cap = CgroupUsage(processes=LIMITS.max_processes)
    status, facts = judge(None, at_cap, died=True, shared_cgroup=True)
    assert (status, facts.exit_code, facts.limits_hit) == (TaskStatus.FAILURE, 137, {"max_processes"})  # type: ignore[attr-defined]
