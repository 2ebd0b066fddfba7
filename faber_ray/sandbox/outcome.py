"""How one run's observations become its facts: exit code, limits hit, error. Pure logic, no engine.

The agent reports how the command ended (its wait status, whether it timed
out, whether an output cap was passed); the task's cgroup says what it used
and whether the kernel refused or killed it. Both feed one decision, shared
by both sandbox modes and every step of a task.

The timing rule: a limit counts only if it is what ended the command. A
command that exited on its own before the kill for its wall-clock or CPU
limit landed keeps its own result. And an exit code is never a limit by
itself: 152 counts as the CPU limit only with the CPU time spent, and 153 as
``disk`` only with the space used up (a death by SIGXFSZ always does).
"""

from __future__ import annotations

import errno as errnos
import os
import signal
from dataclasses import dataclass

from faber_ray.config import ResolvedLimits
from faber_ray.sandbox.cgroup import CgroupUsage
from faber_ray.sandbox.agent.protocol import End, ExitFlag, ExitReport
from faber_ray.status import ExecutionFacts

__all__ = ["OOM_SLACK", "RunFacts", "judge_run"]

# Exit codes of a process killed by SIGXCPU / SIGXFSZ (the RLIMIT backstops), or of a shell whose child was.
_EXIT_SIGXCPU, _EXIT_SIGXFSZ = 128 + signal.SIGXCPU, 128 + signal.SIGXFSZ
#: How far below the memory limit a SIGKILLed gVisor sandbox's peak may be and still count as an OOM kill.
OOM_SLACK = 1024 * 1024


@dataclass
class RunFacts(ExecutionFacts):
    """``ExecutionFacts`` plus what the command's stderr should say when it never ran."""

    note: str = ""


def judge_run(
    report: ExitReport | None,
    usage: CgroupUsage,
    limits: ResolvedLimits,
    argv0: str,
    *,
    cpu_kill_sent: bool,
    cancelled: bool,
    died: bool = False,
    error: str | None = None,
    shared_cgroup: bool = False,
) -> RunFacts:
    """The facts of one run; :func:`faber_ray.status.decide_status` turns them into a status."""
    facts = RunFacts(cancelled=cancelled, error=error)
    if usage.pids_limit_hits or (shared_cgroup and usage.processes >= limits.max_processes):
        facts.limits_hit.add("max_processes")
    if usage.oom_kills:
        facts.limits_hit.add("memory")
    if report is None:
        if died and shared_cgroup and not cancelled and usage.peak_memory >= limits.memory - OOM_SLACK:
            # gVisor: the kernel's OOM kill took the whole sandbox, at the memory limit.
            facts.exit_code = 128 + signal.SIGKILL
            facts.limits_hit.add("memory")
        elif died and shared_cgroup and not cancelled and "max_processes" in facts.limits_hit:
            # gVisor: the task used up its processes, or the sandbox's host tasks, and the Sentry could not go on.
            facts.exit_code = 128 + signal.SIGKILL
        elif died and facts.error is None:
            facts.error = "the sandbox container stopped during the task (it was killed or removed from outside)"
            if cancelled:
                facts.exit_code = 128 + signal.SIGKILL
        return facts
    if report.flags & (ExitFlag.STDOUT_OVER | ExitFlag.STDERR_OVER):
        facts.limits_hit.add("max_output")
    if report.flags & ExitFlag.TOTAL_OVER:
        facts.limits_hit.add("max_task_output")
    if report.end is End.STAGING:
        reason = os.strerror(report.errno) if report.errno else "failed"
        facts.error = facts.error or f"could not prepare the task: {report.message}: {reason}"
        if report.errno in (errnos.ENOSPC, errnos.EFBIG, errnos.EDQUOT):
            facts.limits_hit.add("disk")
        return facts
    if report.end is End.EXEC:
        missing = report.errno == errnos.ENOENT
        facts.exit_code = 127 if missing else 126
        facts.note = (
            f"faber-ray: command not found: {argv0}\n" if missing
            else f"faber-ray: cannot run {argv0}: {os.strerror(report.errno)}\n"
        )
        return facts
    if report.end is End.NEVER:
        if not cancelled and facts.error is None:
            facts.error = "the task was stopped before its command started"
        return facts
    facts.exit_code = report.exit_code
    killed = not report.exited and report.signal == signal.SIGKILL
    if killed and report.flags & ExitFlag.TIMEOUT:
        facts.limits_hit.add("timeout")
    if killed and cpu_kill_sent:
        facts.limits_hit.add("cpu_time")
    # Exit codes alone are not limits (`exit 152` is a program's own choice). RLIMIT_CPU sits above the
    # CPU limit, so a real SIGXCPU, or a shell reporting its child's as 152, comes with the CPU time spent:
    # in the task's cgroup, or by the command's own kernel's count (gVisor's clock, which the host's differs from).
    spent = usage.cpu_time >= limits.cpu_time or bool(report.flags & ExitFlag.CPU_RLIMIT)
    if facts.exit_code == _EXIT_SIGXCPU and spent:
        facts.limits_hit.add("cpu_time")
    # SIGXFSZ is the kernel's signal for a write past RLIMIT_FSIZE; a shell's 153 passes on a child's only
    # if the agent saw a writable mount hold that many bytes (or full) as the command ended.
    if (not report.exited and report.signal == signal.SIGXFSZ) or (
        facts.exit_code == _EXIT_SIGXFSZ and report.flags & ExitFlag.FSIZE_FULL
    ):
        facts.limits_hit.add("disk")
    elif (
        shared_cgroup
        and killed
        and not facts.limits_hit & {"timeout", "cpu_time", "max_output"}
        and not cancelled
        and usage.peak_memory >= limits.memory - OOM_SLACK
    ):
        # Under gVisor the kernel's OOM kill of the sandbox is not always counted where we can
        # see it: a SIGKILL that none of our limits sent, at the memory limit, is one.
        facts.limits_hit.add("memory")
    return facts
