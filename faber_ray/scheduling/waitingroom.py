"""Who may move from waiting for room into the queue: ``queue_size``, ``max_queued_per_user``, fairness.

A batch is accepted whole at once, but its tasks enter the bounded queue one
by one as room frees. Room that frees goes to the waiting user with the fewest
tasks in the queue, not to whoever asked first: a user whose 100,000 tasks
wait for room must not hold another user's 10 behind them. A user at its
quota waits for its own room only and never blocks anyone else.
"""

from __future__ import annotations

from faber_ray.scheduling.fairqueue import FairQueue
from faber_ray.scheduling.users import UserCounts

__all__ = ["WaitingRoom"]


class WaitingRoom:
    """The entry rules over the Scheduler's queue and per-user counts (it owns neither)."""

    def __init__(self, queue: FairQueue, users: UserCounts, max_queued_per_user: int | None = None) -> None:
        self._queue = queue
        self._users = users
        self._quota = max_queued_per_user
        self._entering: dict[str, int] = {}  # user -> its callers waiting for room now

    def room(self, user: str) -> tuple[int, int | None]:
        """Tasks the queue takes now without anyone waiting: in total, and for ``user`` under its quota
        (None without one). Tasks already waiting for room count against both."""
        total = self._queue.capacity - len(self._queue) - sum(self._users.waiting.values())
        if self._quota is None:
            return total, None
        return total, self._quota - self._queue.count(user) - self._users.waiting[user]

    def under_quota(self, user: str) -> bool:
        return self._quota is None or self._queue.count(user) < self._quota

    def may_enter(self, user: str) -> bool:
        """There is room, ``user`` is under its quota, and no other waiting user (under its own quota)
        has fewer tasks in the queue."""
        if not self._queue.has_room() or not self.under_quota(user):
            return False
        mine = self._queue.count(user)
        return all(
            self._queue.count(other) >= mine for other in self._entering if other != user and self.under_quota(other)
        )

    def arrive(self, user: str) -> None:
        """A caller of ``user``'s starts waiting for room."""
        self._entering[user] = self._entering.get(user, 0) + 1

    def leave(self, user: str) -> None:
        self._entering[user] -= 1
        if not self._entering[user]:
            del self._entering[user]

    @property
    def anyone_waiting(self) -> bool:
        return bool(self._entering)
