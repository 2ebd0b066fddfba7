"""A task's result from what its runs saw: one run for a command, one per step that ran.

With steps, the task's ``status`` is ``SUCCESS`` if every step that ran
succeeded, else the status of the first that did not; ``stdout``, ``stderr``
and ``exit_code`` (and the truncation flags and byte counts) are the last
step's; wall and CPU time add up over the steps, peaks are the largest; the
limits hit are the union. A command task reports exactly as it always has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from faber_ray.models import ResourceUsage, StepResult, TaskResult, TaskStatus
from faber_ray.sandbox.execution import Execution, RunRecord
from faber_ray.sandbox.outcome import RunFacts
from faber_ray.status import decide_status

if TYPE_CHECKING:
    from faber_ray.sandbox.judge import Judgement

__all__ = ["Outcome", "TaskReport", "build_result"]


@dataclass
class Outcome:
    """One run that happened: what was seen, and what it means."""

    record: RunRecord
    facts: RunFacts

    @property
    def status(self) -> TaskStatus:
        return decide_status(self.facts)


@dataclass
class TaskReport:
    """Everything a task's result is built from."""

    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None  # a failure outside any run (no container, say)
    files: dict[str, bytes] = field(default_factory=dict)
    file_errors: dict[str, str] = field(default_factory=dict)
    judgement: Judgement | None = None  # a judged task's tests (its compile's runs are the outcomes)


def _cancel_reason(facts: RunFacts, execution: Execution) -> str | None:
    """Who cancelled, and when: CANCELLED results say so in ``error``."""
    if not facts.cancelled:
        return None
    when = "while it was running" if facts.exit_code is not None else "before it started"
    return f"{execution.cancel_reason} {when}"


def _usage(record: RunRecord) -> ResourceUsage:
    usage = record.usage
    return ResourceUsage(
        wall_time=record.wall_time, cpu_time=usage.cpu_time, peak_memory=usage.peak_memory,
        peak_processes=usage.processes, startup_time=record.startup_time,
        stdout_bytes=record.stdout.seen, stderr_bytes=record.stderr.seen,
    )


def _step(outcome: Outcome, execution: Execution) -> StepResult:
    status, facts, record = outcome.status, outcome.facts, outcome.record
    return StepResult(
        status=status, exit_code=facts.exit_code, stdout=record.stdout.text(), stderr=record.stderr.text(),
        error=facts.error if status is TaskStatus.ERROR else _cancel_reason(facts, execution),
        stdout_truncated=record.stdout.overflowed, stderr_truncated=record.stderr.overflowed,
        resource_usage=_usage(record), resource_limits_exceeded=sorted(facts.limits_hit),
    )


def build_result(
    report: TaskReport, execution: Execution, *, has_steps: bool, node_id: str, image: str, sandbox: str
) -> TaskResult:
    steps = [_step(outcome, execution) for outcome in report.outcomes]
    failed = next((step for step in steps if step.status is not TaskStatus.SUCCESS), None)
    last = steps[-1] if steps else None
    error: str | None
    if report.error is not None:
        status, error = TaskStatus.ERROR, report.error
    elif last is None:  # it never ran: cancelled before it started
        facts = RunFacts(cancelled=execution.cancelled, error=None if execution.cancelled else "it never ran")
        status = decide_status(facts)
        error = _cancel_reason(facts, execution) if execution.cancelled else facts.error
    else:
        status = failed.status if failed else TaskStatus.SUCCESS
        error = failed.error if failed else None
    usages = [step.resource_usage for step in steps]
    usage = ResourceUsage(
        wall_time=sum(u.wall_time for u in usages), cpu_time=sum(u.cpu_time for u in usages),
        peak_memory=max((u.peak_memory for u in usages), default=0),
        peak_processes=max((u.peak_processes for u in usages), default=0),
        startup_time=usages[0].startup_time if usages else 0.0,
        stdout_bytes=usages[-1].stdout_bytes if usages else 0, stderr_bytes=usages[-1].stderr_bytes if usages else 0,
    )
    return TaskResult(
        execution_id=execution.execution_id,
        status=status,
        exit_code=last.exit_code if last else None,
        stdout=last.stdout if last else "",
        stderr=last.stderr if last else "",
        error=error,
        resource_usage=usage,
        resource_limits_exceeded=sorted({name for step in steps for name in step.resource_limits_exceeded}),
        stdout_truncated=bool(last and last.stdout_truncated),
        stderr_truncated=bool(last and last.stderr_truncated),
        node_id=node_id,
        image=image,
        sandbox=sandbox,  # type: ignore[arg-type]
        steps=steps if has_steps else None,
        files=report.files,
        file_errors=report.file_errors,
    )
