"""What a task runs, as a list of runs: its command, or each of its steps, with the limits each gets.

A step's limits fall back field by field to the task's, then to the config's
defaults. The sandbox is shared by every step, so what it is made with (the
size of its writable mounts) is the largest any step needs; what admission
reserves for a task is ``sandbox.spec.task_memory`` and ``task_pids``. Plain
Python: the validator, the executor and the sandbox all read a task the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from faber_ray.config import ExecutorConfig, ResolvedLimits
from faber_ray.models import ResourceLimits, Task

__all__ = ["Run", "merge_limits", "runs_of", "sandbox_disk"]


@dataclass(frozen=True)
class Run:
    """One command to run: what it is, what it gets, what holds it."""

    argv: list[str]
    env: dict[str, str]
    stdin: bytes | None
    limits: ResolvedLimits
    continue_on_failure: bool = False


def merge_limits(base: ResourceLimits | None, override: ResourceLimits | None) -> ResourceLimits | None:
    """``override``'s fields where it sets them, ``base``'s elsewhere."""
    if override is None:
        return base
    if base is None:
        return override
    fields = {name: getattr(override, name) for name in ResourceLimits.model_fields}
    return ResourceLimits(**{
        name: value if value is not None else getattr(base, name) for name, value in fields.items()
    })


def _bytes(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def runs_of(task: Task, config: ExecutorConfig) -> list[Run]:
    """The runs of ``task``, in order: one for a command, one per step."""
    if task.steps is None:
        limits = config.resolve_limits(task.limits)
        return [Run(task.argv(), dict(task.env or {}), _bytes(task.stdin), limits)]
    return [
        Run(
            step.argv(), {**(task.env or {}), **(step.env or {})}, _bytes(step.stdin),
            config.resolve_limits(merge_limits(task.limits, step.limits)), step.continue_on_failure,
        )
        for step in task.steps
    ]


def sandbox_disk(task: Task, config: ExecutorConfig) -> int:
    """The size of each writable mount: the largest ``disk`` of any run (each run's own ``disk``
    caps the files it writes, as RLIMIT_FSIZE)."""
    return max(run.limits.disk for run in runs_of(task, config))
