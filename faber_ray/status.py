"""How the facts of one execution become its :class:`TaskStatus`.

Several causes can hold at once (a task that floods stdout may also hit its
timeout while being killed), so the rule is one ordered list, first match
wins. The order puts the caller's intent first, then the infrastructure,
then the limit that most likely *caused* the end, then the exit code:

``CANCELLED > ERROR > MEMORY_LIMIT_EXCEEDED > CPU_LIMIT_EXCEEDED > TIMEOUT >
OUTPUT_LIMIT_EXCEEDED > FAILURE > SUCCESS``

``resource_limits_exceeded`` still lists every limit that was hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from faber_ray.models import TaskStatus

__all__ = ["STATUS_PRECEDENCE", "LIMIT_STATUS", "ExecutionFacts", "decide_status"]

STATUS_PRECEDENCE: tuple[TaskStatus, ...] = (
    TaskStatus.CANCELLED,
    TaskStatus.ERROR,
    TaskStatus.MEMORY_LIMIT_EXCEEDED,
    TaskStatus.CPU_LIMIT_EXCEEDED,
    TaskStatus.TIMEOUT,
    TaskStatus.OUTPUT_LIMIT_EXCEEDED,
    TaskStatus.FAILURE,
    TaskStatus.SUCCESS,
)

#: Which status each limit stands for: the ``ResourceLimits`` fields, and ``max_task_output``
#: (an ``ExecutorConfig`` field: the output of every stream of every step of a task together).
LIMIT_STATUS: dict[str, TaskStatus] = {
    "memory": TaskStatus.MEMORY_LIMIT_EXCEEDED,
    "cpu_time": TaskStatus.CPU_LIMIT_EXCEEDED,
    "timeout": TaskStatus.TIMEOUT,
    "max_output": TaskStatus.OUTPUT_LIMIT_EXCEEDED,
    "max_task_output": TaskStatus.OUTPUT_LIMIT_EXCEEDED,
}


@dataclass
class ExecutionFacts:
    """What was observed about one run, before it is judged."""

    exit_code: int | None = None
    limits_hit: set[str] = field(default_factory=set)
    cancelled: bool = False
    error: str | None = None


def decide_status(facts: ExecutionFacts) -> TaskStatus:
    """Apply :data:`STATUS_PRECEDENCE` to ``facts``."""
    candidates = {LIMIT_STATUS[name] for name in facts.limits_hit if name in LIMIT_STATUS}
    if facts.cancelled:
        candidates.add(TaskStatus.CANCELLED)
    if facts.error is not None or facts.exit_code is None:
        candidates.add(TaskStatus.ERROR)
    elif facts.exit_code != 0:
        candidates.add(TaskStatus.FAILURE)
    else:
        candidates.add(TaskStatus.SUCCESS)
    return next(status for status in STATUS_PRECEDENCE if status in candidates)
