"""The Scheduler's queue of tasks waiting for a slot, shared fairly between users.

A single FIFO lets one user who submits 100,000 tasks make everyone else wait
behind all of them. Here each user has a FIFO of their own (per priority), and
the next slot goes to the eligible user who runs the fewest tasks for their
weight, so a latecomer with ten tasks gets the next slots even while a flooder
holds every running one. Priorities are strict: a higher priority always goes
first if any of its users may run. The caller owns the running counts (it knows
when tasks start and end); the queue only reads them, so it never drifts from
the truth.

Every structure is a dict keyed by id or user, so cancelling from the middle is
O(1) and a pop costs O(users at the priority it dispatches from), not O(tasks).
"""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from faber_ray.frozen import Frozen
from faber_ray.models import Task, TaskResult, TaskStatus
from faber_ray.scheduling.ledger import Need

__all__ = ["ANONYMOUS", "FairQueue", "QueuedTask"]

#: The user a task submitted without one belongs to: they share one fair share between them.
ANONYMOUS = "anonymous"


@dataclass
class QueuedTask:
    """A validated task with its id, what it needs of a node, who submitted it and how often it has run."""

    execution_id: str
    task: Task | Frozen[Task]  #: as the executor froze it: only the worker that runs it unpickles it
    need: Need
    user: str | None = None  #: its owner (None: the cluster's own, visible to every caller of the Python API)
    attempts: int = 0
    enqueued_at: float = field(default_factory=time.monotonic)
    priority: int = 0
    image: str = ""  #: the image it names ("" for the default), for a result made without running it
    key: str | None = None  #: its content key, when identical tasks share a run (dedupe)

    @property
    def fair_user(self) -> str:
        """Whom it counts against in fair share and quotas (no user: ``anonymous``)."""
        return self.user or ANONYMOUS

    def ended(
        self, status: TaskStatus, reason: str, *, image: str, sandbox: Literal["warm", "fresh"], node: str = ""
    ) -> TaskResult:
        """The result of a task that ends without a run of its own (cancelled, or lost to faults):
        ``reason`` says what happened. ``image`` is the config's default, used if the task names none."""
        return TaskResult(
            execution_id=self.execution_id, status=status, error=reason, node_id=node,
            image=self.image or (self.task.image if isinstance(self.task, Task) else "") or image,
            attempts=self.attempts, sandbox=sandbox,
        )


#: One user's tasks at one priority, oldest first: id -> (sequence, task).
_Fifo = OrderedDict[str, tuple[int, QueuedTask]]


class FairQueue:
    """Per-user FIFOs under strict priorities, bounded by ``capacity`` tasks in total.

    Retried tasks (``push_front``) were already admitted once, so they go first
    in their user's line and may exceed the capacity rather than be dropped.
    """

    def __init__(
        self, capacity: int, weights: Mapping[str, float] | None = None, max_running_per_user: int | None = None
    ) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        weights = dict(weights or {})
        if any(weight <= 0 for weight in weights.values()):
            raise ValueError("weights must be positive")
        self.capacity = capacity
        self.max_running_per_user = max_running_per_user
        self._weights = weights
        self._levels: dict[int, dict[str, _Fifo]] = {}  # priority -> user -> that user's FIFO
        self._priorities: list[int] = []  # the keys of _levels, ascending
        self._where: dict[str, tuple[int, str]] = {}  # id -> (priority, user)
        self._counts: dict[str, int] = {}  # user -> queued tasks, at every priority
        self._next_seq = 0  # the next push's sequence; pushes only grow it
        self._front_seq = -1  # the next push_front's; only shrinks, so it is below every push's

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._where

    def has_room(self) -> bool:
        return len(self._where) < self.capacity

    def count(self, user: str) -> int:
        """How many tasks ``user`` has queued, at every priority."""
        return self._counts.get(user, 0)

    def users(self) -> dict[str, int]:
        """Queued tasks per user, for every user with any queued."""
        return dict(self._counts)

    def weight(self, user: str) -> float:
        return self._weights.get(user, 1.0)

    def push(self, item: QueuedTask) -> None:
        """At the back of its user's line at its priority; raises OverflowError when the queue is full."""
        if item.execution_id not in self._where and not self.has_room():
            raise OverflowError(f"queue is full ({self.capacity} tasks)")
        self._insert(item, self._next_seq, front=False)
        self._next_seq += 1

    def push_front(self, item: QueuedTask) -> None:
        """At the front of its user's line at its priority, ahead of every task queued now, past the capacity."""
        self._insert(item, self._front_seq, front=True)
        self._front_seq -= 1

    def _insert(self, item: QueuedTask, seq: int, *, front: bool) -> None:
        if item.execution_id in self._where:  # queued again (a retry of one still here): one copy, the new one
            self.remove(item.execution_id)
        level = self._levels.get(item.priority)
        if level is None:
            level = self._levels[item.priority] = {}
            bisect.insort(self._priorities, item.priority)
        user = item.fair_user
        fifo = level.get(user)
        if fifo is None:
            fifo = level[user] = OrderedDict()
        fifo[item.execution_id] = (seq, item)
        if front:
            fifo.move_to_end(item.execution_id, last=False)
        self._where[item.execution_id] = (item.priority, user)
        self._counts[user] = self._counts.get(user, 0) + 1

    def remove(self, execution_id: str) -> QueuedTask | None:
        """Take a task out from wherever it is (a cancel); None if it is not queued."""
        where = self._where.pop(execution_id, None)
        if where is None:
            return None
        priority, user = where
        level = self._levels[priority]
        fifo = level[user]
        _, item = fifo.pop(execution_id)
        self._forget(priority, user, level, fifo)
        return item

    def _forget(self, priority: int, user: str, level: dict[str, _Fifo], fifo: _Fifo) -> None:
        """Count one task of ``user`` gone and drop what became empty, so memory follows the queue, not history."""
        left = self._counts[user] - 1
        if left:
            self._counts[user] = left
        else:
            del self._counts[user]
        if fifo:
            return
        del level[user]
        if not level:
            del self._levels[priority]
            self._priorities.pop(bisect.bisect_left(self._priorities, priority))

    def pop(self, running: Mapping[str, int]) -> QueuedTask | None:
        """The next task to dispatch, given how many tasks each user runs now (a missing user runs none).

        The highest priority with an eligible user (one under ``max_running_per_user``) wins; within
        it, the user with the fewest running tasks for their weight, then whose head was queued first.
        None if no user may run. The caller counts the task as running once it starts it.
        """
        cap = self.max_running_per_user
        for priority in reversed(self._priorities):
            level = self._levels[priority]
            best: tuple[float, int] | None = None
            chosen: str | None = None
            for user, fifo in level.items():
                now = running.get(user, 0)
                if cap is not None and now >= cap:
                    continue
                seq, _ = next(iter(fifo.values()))
                key = (now / self.weight(user), seq)
                if best is None or key < best:
                    best, chosen = key, user
            if chosen is not None:
                fifo = level[chosen]
                execution_id, (_, item) = fifo.popitem(last=False)
                del self._where[execution_id]
                self._forget(priority, chosen, level, fifo)
                return item
        return None

    def ids(self) -> list[str]:
        """Every queued id, about in dispatch order: highest priority first, then round-robin over
        the users in the order their heads were queued (for display; real order depends on running)."""
        ids: list[str] = []
        for priority in reversed(self._priorities):
            fifos = sorted(self._levels[priority].values(), key=lambda fifo: next(iter(fifo.values()))[0])
            lines: list[Iterator[str]] = [iter(fifo) for fifo in fifos]
            while lines:
                still: list[Iterator[str]] = []
                for line in lines:
                    execution_id = next(line, None)
                    if execution_id is not None:
                        ids.append(execution_id)
                        still.append(line)
                lines = still
        return ids
