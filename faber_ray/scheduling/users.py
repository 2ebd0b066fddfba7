"""Per-user counts for fair share, quotas and ``stats()``: who waits, who runs, who is done.

The fair queue decides who goes next from how many tasks each user has
dispatched; quotas compare against what a user has queued. Both numbers are
kept here as counters that move with each task, so no decision ever scans the
executions. User names stay inside faber-ray: they are never metrics tags,
where any caller could read them and where each new name would be a new series.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from faber_ray.models import UserStatistics
from faber_ray.scheduling.fairqueue import ANONYMOUS

__all__ = ["ANONYMOUS", "UserCounts", "user_key"]


def user_key(user: str | None) -> str:
    """The user a task counts against in fair share: its own, or ``anonymous``. (Ownership, what a
    user may see and cancel, keeps ``None``: a token named "anonymous" sees nothing of the API's.)"""
    return user or ANONYMOUS


class UserCounts:
    """Waiting (accepted, not yet in the queue), dispatched and done, per user."""

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.weights = dict(weights or {})
        self.waiting: Counter[str] = Counter()
        self.dispatched: Counter[str] = Counter()
        self.done: Counter[str] = Counter()

    def weight(self, user: str) -> float:
        return self.weights.get(user, 1.0)

    @staticmethod
    def _down(counter: Counter[str], user: str) -> None:
        counter[user] -= 1
        if counter[user] <= 0:
            del counter[user]

    def wait(self, user: str) -> None:
        self.waiting[user] += 1

    def entered(self, user: str) -> None:
        """One of ``user``'s waiting tasks went into the queue (or ended while it waited)."""
        self._down(self.waiting, user)

    def dispatch(self, user: str) -> None:
        self.dispatched[user] += 1

    def undispatch(self, user: str) -> None:
        """A dispatched task ended, or goes back to the queue for a retry."""
        self._down(self.dispatched, user)

    def finish(self, user: str) -> None:
        self.done[user] += 1

    def statistics(self, queued: Mapping[str, int]) -> dict[str, UserStatistics]:
        """Each user's counts and shares; ``queued`` is the fair queue's count per user."""
        users = set(queued) | set(self.waiting) | set(self.dispatched) | set(self.done)
        active = [user for user in users if queued.get(user) or self.waiting[user] or self.dispatched[user]]
        total_weight = sum(self.weight(user) for user in active)
        running = sum(self.dispatched.values())
        return {
            user: UserStatistics(
                queued=queued.get(user, 0) + self.waiting[user],
                running=self.dispatched[user],
                done=self.done[user],
                weight=self.weight(user),
                share=self.dispatched[user] / running if running else 0.0,
                fair_share=self.weight(user) / total_weight if user in active and total_weight else 0.0,
            )
            for user in sorted(users)
        }
