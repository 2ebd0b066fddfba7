"""Dedupe in the Scheduler: a task whose twin ran gets that result; one whose twin runs joins it.

The bookkeeping of who leads and who joined is ``scheduling/flights.py``; this
mixin applies it to the Scheduler's records. The Scheduler actor inherits it.
"""

from __future__ import annotations

from faber_ray.actors.collector import REUSABLE
from faber_ray.frozen import Ended, Frozen
from faber_ray.models import TaskResult
from faber_ray.scheduling.fairqueue import FairQueue, QueuedTask
from faber_ray.scheduling.flights import Flights
from faber_ray.scheduling.lifecycle import ExecutionBook
from faber_ray.scheduling.users import UserCounts, user_key

__all__ = ["Dedupe"]


class Dedupe:
    """Cache hits and single flight (these annotations name the Scheduler's state it works on)."""

    _book: ExecutionBook
    _queue: FairQueue
    _users: UserCounts
    _flights: Flights
    _cache_hits: int

    def _finish(self, result: Ended) -> None:
        raise NotImplementedError  # the Scheduler's

    def _wake_dispatch(self) -> None:
        raise NotImplementedError  # the Scheduler's

    def _dedupe(self, item: QueuedTask, done: tuple[str, Frozen[TaskResult]] | None) -> None:
        """Serve ``item`` from its twin's stored result, join its twin's run, or lead a run of its own."""
        assert item.key is not None
        if done is not None:
            self._cache_hits += 1
            self._finish(self._shared(item, *done))
        elif self._flights.leader_of(item.key) is not None:
            self._flights.join(item.key, item.execution_id)
            self._book.join(item.execution_id)
            self._users.entered(user_key(item.user))
        else:
            self._flights.lead(item.key, item.execution_id)

    def _shared(self, item: QueuedTask, source: str, result: Frozen[TaskResult]) -> Ended:
        """A copy of ``source``'s result for ``item``: its own execution id, marked cached."""
        copy = result.thaw().model_copy(
            update={"execution_id": item.execution_id, "cached": True, "cached_from": source}
        )
        return Ended.of(copy)

    def _landed(self, item: QueuedTask, result: Ended) -> None:
        """``item``'s run ended: hand its result to those who joined it, or, if it says nothing about the
        program, let the first of them run for itself (the others join that one)."""
        assert item.key is not None
        followers = self._flights.land(item.key, item.execution_id)
        if not followers:
            return
        if result.status in REUSABLE:
            for follower in followers:
                record = self._book.get(follower)
                if record is not None:
                    self._finish(self._shared(record.item, item.execution_id, result.result))
            return
        first = self._book.get(followers[0])
        if first is None:
            return
        self._flights.lead(item.key, followers[0], followers[1:])
        self._book.queue(followers[0])
        self._queue.push_front(first.item)
        self._wake_dispatch()
