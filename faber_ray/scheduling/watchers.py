"""How many watchers of live output may follow at once: per task, and per user.

A watcher (``TaskExecutor.watch``, ``stream``, SSE ``/v1/tasks/{id}/events``)
holds a queue of the task's output on its worker for as long as the task runs.
Caps keep one user from piling up watchers (and their queues) without bound:
beyond them the watch is refused with ``QueueFullError``, which the HTTP API
answers with 429. Plain Python, no Ray.
"""

from __future__ import annotations

from collections import Counter

from faber_ray.errors import QueueFullError

__all__ = ["MAX_WATCHERS_PER_TASK", "MAX_WATCHERS_PER_USER", "WatcherCaps"]

#: Watchers of one task at once.
MAX_WATCHERS_PER_TASK = 16
#: Watchers one user has open at once, over all their tasks (the cluster itself, user None, counts as one).
MAX_WATCHERS_PER_USER = 64


class WatcherCaps:
    """Counts open watchers; ``open`` refuses one over a cap, ``close`` gives its place back."""

    def __init__(self, per_task: int = MAX_WATCHERS_PER_TASK, per_user: int = MAX_WATCHERS_PER_USER) -> None:
        self.per_task = per_task
        self.per_user = per_user
        self._by_task: Counter[str] = Counter()
        self._by_user: Counter[str | None] = Counter()

    def __len__(self) -> int:
        return sum(self._by_task.values())

    def check(self, execution_id: str, user: str | None) -> None:
        """Raise ``QueueFullError`` if one more watcher of ``execution_id`` by ``user`` would pass a cap."""
        if self._by_task[execution_id] >= self.per_task:
            raise QueueFullError(
                f"task {execution_id} already has {self._by_task[execution_id]} watchers, the most one task may have"
            )
        if self._by_user[user] >= self.per_user:
            who = f"user {user}" if user is not None else "the cluster's own callers"
            raise QueueFullError(
                f"{who} already has {self._by_user[user]} watchers open, the most one user may have; "
                "close some first"
            )

    def open(self, execution_id: str, user: str | None) -> None:
        self.check(execution_id, user)
        self._by_task[execution_id] += 1
        self._by_user[user] += 1

    def close(self, execution_id: str, user: str | None) -> None:
        self._by_task[execution_id] -= 1
        if self._by_task[execution_id] <= 0:
            del self._by_task[execution_id]
        self._by_user[user] -= 1
        if self._by_user[user] <= 0:
            del self._by_user[user]
