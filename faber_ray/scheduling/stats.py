"""Counters and wall-time percentiles for ``TaskExecutor.stats()``."""

from __future__ import annotations

import math
from collections.abc import Callable
import time
from collections import Counter, deque

from faber_ray.models import ExecutionStatistics, TaskResult

__all__ = ["StatisticsTracker", "percentile"]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class StatisticsTracker:
    """Counts every result; wall-time mean and percentiles (over the last ``window``) of those that ran.

    A task that never ran (cancelled while queued, refused by the engine) has
    no wall time; counting its 0 would drag the mean and percentiles down.
    """

    def __init__(self, window: int = 10_000, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self.total = 0
        self.by_status: Counter[str] = Counter()
        self._wall_sum = 0.0
        self._timed = 0
        self._recent: deque[float] = deque(maxlen=window)
        self._first_seen: float | None = None
        self._last_finished: float | None = None

    def mark_submitted(self) -> None:
        """Start the throughput clock at the first submission."""
        if self._first_seen is None:
            self._first_seen = self._clock()

    def record(self, result: TaskResult) -> None:
        self.record_outcome(result.status.value, result.resource_usage.wall_time)

    def record_outcome(self, status: str, wall_time: float) -> None:
        """Count one result by what the control plane knows of it without unpickling it."""
        now = self._clock()
        if self._first_seen is None:
            self._first_seen = now
        self._last_finished = now
        self.total += 1
        self.by_status[status] += 1
        if wall_time > 0:
            self._timed += 1
            self._wall_sum += wall_time
            self._recent.append(wall_time)

    def snapshot(self, queued: int = 0, running: int = 0) -> ExecutionStatistics:
        recent = list(self._recent)
        elapsed = (
            (self._last_finished - self._first_seen)
            if self._first_seen is not None and self._last_finished is not None
            else 0.0
        )
        return ExecutionStatistics(
            total=self.total,
            by_status=dict(self.by_status),
            wall_time_mean=self._wall_sum / self._timed if self._timed else 0.0,
            wall_time_p50=percentile(recent, 0.50),
            wall_time_p95=percentile(recent, 0.95),
            throughput=self.total / elapsed if elapsed > 0 else 0.0,
            queued=queued,
            running=running,
        )
