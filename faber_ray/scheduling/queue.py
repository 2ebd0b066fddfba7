"""The Scheduler's bounded FIFO of tasks waiting for a slot."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from faber_ray.models import Task, TaskResult, TaskStatus
from faber_ray.scheduling.ledger import Need

__all__ = ["QueuedTask", "TaskQueue"]


@dataclass
class QueuedTask:
    """A validated task with its id, what it needs of a node, who submitted it and how often it has run."""

    execution_id: str
    task: Task
    need: Need
    user: str | None = None
    attempts: int = 0
    enqueued_at: float = field(default_factory=time.monotonic)

    def ended(
        self, status: TaskStatus, reason: str, *, image: str, sandbox: Literal["warm", "fresh"], node: str = ""
    ) -> TaskResult:
        """The result of a task that ends without a run of its own (cancelled, or lost to faults):
        ``reason`` says what happened. ``image`` is the config's default, used if the task names none."""
        return TaskResult(
            execution_id=self.execution_id, status=status, error=reason, node_id=node,
            image=self.task.image or image, attempts=self.attempts, sandbox=sandbox,
        )


class TaskQueue:
    """FIFO with a capacity; retries go back to the front, ahead of newer work.

    Retried tasks were already admitted once, so they may exceed the capacity
    rather than be dropped.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._items: OrderedDict[str, QueuedTask] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._items

    def has_room(self) -> bool:
        return len(self._items) < self.capacity

    def push(self, item: QueuedTask) -> None:
        if not self.has_room():
            raise OverflowError(f"queue is full ({self.capacity} tasks)")
        self._items[item.execution_id] = item

    def push_front(self, item: QueuedTask) -> None:
        self._items[item.execution_id] = item
        self._items.move_to_end(item.execution_id, last=False)

    def ids(self) -> list[str]:
        """Execution ids in the order they will be dispatched."""
        return list(self._items)

    def head(self, count: int) -> list[QueuedTask]:
        """The first ``count`` tasks, in dispatch order, left in the queue."""
        items: list[QueuedTask] = []
        for item in self._items.values():
            if len(items) >= count:
                break
            items.append(item)
        return items

    def peek(self) -> QueuedTask | None:
        return next(iter(self._items.values()), None)

    def pop(self) -> QueuedTask | None:
        if not self._items:
            return None
        return self._items.popitem(last=False)[1]

    def remove(self, execution_id: str) -> QueuedTask | None:
        return self._items.pop(execution_id, None)

    def drain(self) -> list[QueuedTask]:
        items = list(self._items.values())
        self._items.clear()
        return items
