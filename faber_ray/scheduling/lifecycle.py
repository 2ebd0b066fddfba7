"""One record per execution, from acceptance to delivery: the Scheduler's whole view of a task.

An execution moves ``WAITING`` (accepted, waiting for room in the queue) ->
``QUEUED`` -> ``RUNNING`` (handed to a worker), or ``WAITING`` -> ``JOINED`` (sharing the run of
an identical task, with dedupe) -> ``DELIVERING`` (its result is
on its way to the collector) and is then forgotten. A retry after a lost
worker goes back from ``RUNNING`` to ``QUEUED``. ``cancel`` answers with what
the caller must do, which depends on the phase alone; a cancel that arrives
before the execution itself (the two calls race) is remembered for it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from faber_ray.scheduling.fairqueue import QueuedTask

__all__ = ["CancelAction", "ExecutionBook", "Phase", "Record", "owned_by"]


def owned_by(owner: str | None, asker: str | None) -> bool:
    """Whether ``asker`` may see or cancel an execution of ``owner``. A user sees only their own
    executions; ``None`` asks for the cluster itself (the Python API without ``user=``) and sees all."""
    return asker is None or owner == asker


class Phase(enum.Enum):
    WAITING = "waiting"
    JOINED = "joined"  #: shares the run of an identical task (dedupe): it ends when that one does
    QUEUED = "queued"
    RUNNING = "running"
    DELIVERING = "delivering"


class CancelAction(enum.Enum):
    END_NOW = "end now"  #: never started: end it CANCELLED at once
    KILL = "kill"  #: running: ask its worker to kill it
    REMEMBER = "remember"  #: not here yet: it ends CANCELLED when it arrives
    TOO_LATE = "too late"  #: finished, or unknown


@dataclass
class Record:
    item: QueuedTask
    phase: Phase
    worker: str | None = None
    cancel_reason: str | None = None


class ExecutionBook:
    """Every execution that has not been delivered yet, by id, in acceptance order."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._expected: set[str] = set()  # a result was asked for before the task arrived
        self._early_cancels: dict[str, tuple[str, str | None]] = {}  # id -> (reason, who asked)

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._records

    def __len__(self) -> int:
        return len(self._records)

    def get(self, execution_id: str) -> Record | None:
        return self._records.get(execution_id)

    def expect(self, execution_id: str) -> None:
        """Someone waits for this id's result; its task may not have arrived yet."""
        if execution_id not in self._records:
            self._expected.add(execution_id)

    def accept(self, item: QueuedTask) -> str | None:
        """Record a new execution as WAITING; returns a cancel reason if it was cancelled before it arrived."""
        self._expected.discard(item.execution_id)
        record = Record(item, Phase.WAITING)
        self._records[item.execution_id] = record
        early = self._early_cancels.pop(item.execution_id, None)
        if early is None or not owned_by(item.user, early[1]):
            return None
        record.cancel_reason = early[0]
        return early[0]

    def _move(self, execution_id: str, to: Phase, allowed: tuple[Phase, ...]) -> Record:
        record = self._records[execution_id]
        if record.phase not in allowed:
            raise ValueError(f"execution {execution_id} cannot go from {record.phase.value} to {to.value}")
        record.phase = to
        return record

    def join(self, execution_id: str) -> None:
        self._move(execution_id, Phase.JOINED, (Phase.WAITING,))

    def queue(self, execution_id: str) -> None:
        """Into the queue: from waiting for room, from a lost run (a retry), or from sharing a run
        that ended saying nothing about the program (it runs for itself after all)."""
        self._move(execution_id, Phase.QUEUED, (Phase.WAITING, Phase.RUNNING, Phase.JOINED))
        self._records[execution_id].worker = None

    def start(self, execution_id: str, worker: str) -> None:
        self._move(execution_id, Phase.RUNNING, (Phase.QUEUED,)).worker = worker

    def finish(self, execution_id: str) -> None:
        """From any phase: the result exists and is being delivered."""
        self._move(execution_id, Phase.DELIVERING, tuple(Phase))

    def delivered(self, execution_id: str) -> None:
        self._records.pop(execution_id, None)

    def cancel(self, execution_id: str, reason: str, user: str | None = None) -> CancelAction:
        """What to do about a cancel asked by ``user`` (None: the cluster itself, which may cancel anything);
        another user's execution is treated as unknown."""
        record = self._records.get(execution_id)
        if record is None:
            if execution_id in self._expected:
                self._early_cancels[execution_id] = (reason, user)
                return CancelAction.REMEMBER
            return CancelAction.TOO_LATE
        if not owned_by(record.item.user, user) or record.phase is Phase.DELIVERING:
            return CancelAction.TOO_LATE
        record.cancel_reason = reason
        return CancelAction.KILL if record.phase is Phase.RUNNING else CancelAction.END_NOW

    def ids(self, phase: Phase) -> list[str]:
        """Ids in ``phase``, in the order they were accepted."""
        return [execution_id for execution_id, record in self._records.items() if record.phase is phase]

    def visible(self, execution_id: str, user: str | None) -> Record | None:
        """The record of ``execution_id`` if ``user`` may see it (None sees every record)."""
        record = self._records.get(execution_id)
        return record if record is not None and owned_by(record.item.user, user) else None

    def running_on(self, worker: str) -> list[str]:
        """Ids a worker runs now, in the order they were accepted."""
        return [
            execution_id for execution_id, record in self._records.items()
            if record.phase is Phase.RUNNING and record.worker == worker
        ]

    def count(self, phase: Phase) -> int:
        return sum(1 for record in self._records.values() if record.phase is phase)
