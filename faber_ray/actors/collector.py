"""``ResultCollector``: every finished result, in a cache fair between users, plus the statistics.

One user's flood of results evicts that user's own older ones first: another
user's results stay while they hold no more than their share of the cache.
"""

from __future__ import annotations

import ray

from faber_ray.frozen import Ended, Frozen
from faber_ray.models import ExecutionStatistics, TaskResult
from faber_ray.scheduling.lifecycle import owned_by
from faber_ray.scheduling.lru import ENTRY_OVERHEAD, FairCache
from faber_ray.scheduling.users import user_key
from faber_ray.scheduling.stats import StatisticsTracker

__all__ = ["ResultCollector"]


@ray.remote
class ResultCollector:
    """Serves ``get_result`` and ``stats``; results arrive fire-and-forget from the Scheduler."""

    def __init__(self, cache_size: int, cache_bytes: int | None = None) -> None:
        # Results stay as the bytes the worker made: storing one never unpickles it, and its size is exact.
        self._cache: FairCache[str, tuple[str | None, Frozen[TaskResult]]] = FairCache(
            cache_size, cache_bytes, lambda entry: ENTRY_OVERHEAD + len(entry[1])
        )
        self._stats = StatisticsTracker()

    def mark_submitted(self) -> None:
        self._stats.mark_submitted()

    def add_many(self, results: list[tuple[Ended, str | None]]) -> None:
        """Store a batch of ``(result, owner)`` (whatever finished while the last batch was on its way)."""
        for ended, user in results:
            self._cache.put(ended.execution_id, (user, ended.result), user_key(user))
            self._stats.record_outcome(ended.status, ended.wall_time)

    def get(self, execution_id: str, user: str | None = None) -> Frozen[TaskResult] | None:
        """A cached result, still as bytes; None if unknown, evicted, or not ``user``'s (None: the
        cluster, which sees all)."""
        entry = self._cache.get(execution_id)
        if entry is None or not owned_by(entry[0], user):
            return None
        return entry[1]

    def stats(self, queued: int, running: int) -> ExecutionStatistics:
        return self._stats.snapshot(queued=queued, running=running)

    def cache_info(self) -> dict[str, int]:
        return {
            "size": len(self._cache), "capacity": self._cache.capacity, "evictions": self._cache.evictions,
            "bytes": self._cache.bytes, "max_bytes": self._cache.max_bytes or 0,
        }
