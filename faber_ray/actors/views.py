"""The Scheduler's read-only answers: counts, per-user statistics, pending ids, the cluster view.

Kept apart from the Scheduler's decisions so that each file reads as one thing;
the Scheduler actor class inherits these methods.
"""

from __future__ import annotations

from typing import Any

from faber_ray.actors.pool import WorkerPool
from faber_ray.config import ExecutorConfig
from faber_ray.scheduling.fairqueue import FairQueue
from faber_ray.scheduling.flights import Flights
from faber_ray.scheduling.ledger import CapacityLedger
from faber_ray.scheduling.lifecycle import ExecutionBook, Phase
from faber_ray.scheduling.phases import PhaseClock
from faber_ray.scheduling.placement import Placement
from faber_ray.scheduling.users import UserCounts, user_key

__all__ = ["SchedulerViews"]


class SchedulerViews:
    """Queries over the state the Scheduler owns (these annotations name it; the Scheduler sets it)."""

    _config: ExecutorConfig
    _queue: FairQueue
    _users: UserCounts
    _placement: Placement
    _ledger: CapacityLedger
    _book: ExecutionBook
    _pool: WorkerPool
    _phases: PhaseClock
    _flights: Flights
    _cache_hits: int

    async def images_present(self, images: list[str]) -> list[bool]:
        """For each of ``images``, whether some sandbox node has it (what ``check`` asks of a batch)."""
        return [await self._pool.image_anywhere(image) for image in images]

    async def image_ids(self, images: list[str]) -> list[str | None]:
        """For each image name, its ID on the sandbox nodes (None if none has it): dedupe's key."""
        return [await self._pool.image_id(image) for image in images]

    def counts(self) -> dict[str, int]:
        """Running, and queued (here, waiting for room, or held by a worker until a slot frees)."""
        queued = len(self._queue) + sum(self._users.waiting.values()) + self._placement.backlog
        return {
            "queued": queued, "running": self._placement.running,
            "cache_hits": self._cache_hits, "single_flight_joins": self._flights.joins,
        }

    def users(self, user: str | None = None) -> dict[str, Any]:
        """Per user: queued, dispatched and done, its weight and shares (only ``user``'s, if given)."""
        view = self._users.statistics(self._queue.users())
        if user is not None:
            key = user_key(user)
            return {key: view[key]} if key in view else {}
        return dict(view)

    def pending(self, user: str | None = None) -> dict[str, list[str]]:
        """Execution ids not finished yet: queued (held by workers, then in dispatch order, then those
        waiting for room) and running; only ``user``'s if given."""
        queued = [
            *self._placement.backlog_ids(), *self._queue.ids(), *self._book.ids(Phase.WAITING),
            *self._book.ids(Phase.JOINED),
        ]
        running = self._placement.running_ids()
        if user is not None:
            queued, running = (
                [execution_id for execution_id in ids if self._book.visible(execution_id, user)]
                for ids in (queued, running)
            )
        return {"queued": queued, "running": running}

    def cost_breakdown(self) -> dict[str, float]:
        """Mean seconds per task in each phase (queue, dispatch, sandbox, reset, delivery)."""
        return self._phases.means()

    def cluster(self) -> dict[str, Any]:
        return {
            "nodes": self._placement.by_node(self._ledger.capacity, self._ledger.reserved),
            "unavailable_nodes": self._pool.failures(),
            "max_concurrent_tasks": self._config.max_concurrent_tasks, **self.counts(),
        }
