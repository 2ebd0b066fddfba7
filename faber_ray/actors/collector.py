"""``ResultCollector``: every finished result, in an LRU, plus the statistics."""

from __future__ import annotations

import ray

from faber_ray.models import ExecutionStatistics, TaskResult
from faber_ray.scheduling.lru import LRUCache
from faber_ray.scheduling.stats import StatisticsTracker

__all__ = ["ResultCollector"]


@ray.remote
class ResultCollector:
    """Serves ``get_result`` and ``stats``; results arrive fire-and-forget from the Scheduler."""

    def __init__(self, cache_size: int) -> None:
        self._cache: LRUCache[str, TaskResult] = LRUCache(cache_size)
        self._stats = StatisticsTracker()

    def mark_submitted(self) -> None:
        self._stats.mark_submitted()

    def add_many(self, results: list[TaskResult]) -> None:
        """Store a batch (the Scheduler sends whatever finished while the last batch was on its way)."""
        for result in results:
            self._cache.put(result.execution_id, result)
            self._stats.record(result)

    def get(self, execution_id: str) -> TaskResult | None:
        return self._cache.get(execution_id)

    def stats(self, queued: int, running: int) -> ExecutionStatistics:
        return self._stats.snapshot(queued=queued, running=running)

    def cache_info(self) -> dict[str, int]:
        return {"size": len(self._cache), "capacity": self._cache.capacity, "evictions": self._cache.evictions}
