"""StatisticsTracker: counts per status, wall-time mean and percentiles, throughput."""

from __future__ import annotations

import pytest

from faber_ray.models import ResourceUsage, TaskResult, TaskStatus
from faber_ray.scheduling.stats import StatisticsTracker, percentile


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def result(status: TaskStatus, wall: float) -> TaskResult:
    return TaskResult(execution_id="x", status=status, resource_usage=ResourceUsage(wall_time=wall))


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, 0.0),
        ([7.0], 0.95, 7.0),
        ([3.0, 1.0, 2.0], 0.5, 2.0),
        ([float(v) for v in range(1, 101)], 0.5, 50.0),
        ([float(v) for v in range(1, 101)], 0.95, 95.0),
        ([float(v) for v in range(1, 21)], 0.95, 19.0),
        ([1.0, 2.0], 0.0, 1.0),
    ],
)
def test_nearest_rank_percentile(values: list[float], fraction: float, expected: float) -> None:
    assert percentile(values, fraction) == expected


def test_empty_snapshot() -> None:
    snapshot = StatisticsTracker().snapshot()
    assert snapshot.total == 0 and snapshot.by_status == {}
    assert snapshot.wall_time_mean == snapshot.wall_time_p50 == snapshot.throughput == 0.0


def test_counts_per_status_and_wall_times() -> None:
    tracker = StatisticsTracker(clock=Clock())
    for status, wall in [
        (TaskStatus.SUCCESS, 1.0),
        (TaskStatus.SUCCESS, 3.0),
        (TaskStatus.FAILURE, 2.0),
        (TaskStatus.TIMEOUT, 10.0),
    ]:
        tracker.record(result(status, wall))
    snapshot = tracker.snapshot(queued=5, running=2)
    assert snapshot.total == 4
    assert snapshot.by_status == {"SUCCESS": 2, "FAILURE": 1, "TIMEOUT": 1}
    assert snapshot.wall_time_mean == pytest.approx(4.0)
    assert snapshot.wall_time_p50 == 2.0
    assert snapshot.wall_time_p95 == 10.0
    assert (snapshot.queued, snapshot.running) == (5, 2)


def test_throughput_runs_from_first_submission_to_last_finish() -> None:
    clock = Clock()
    tracker = StatisticsTracker(clock=clock)
    tracker.mark_submitted()
    clock.now += 2.0
    tracker.mark_submitted()  # a later submission does not restart the clock
    tracker.record(result(TaskStatus.SUCCESS, 0.1))
    clock.now += 2.0
    tracker.record(result(TaskStatus.SUCCESS, 0.1))
    assert tracker.snapshot().throughput == pytest.approx(2 / 4.0)
    clock.now += 100.0  # idle time after the last finish does not dilute it
    assert tracker.snapshot().throughput == pytest.approx(2 / 4.0)


def test_throughput_without_elapsed_time_is_zero() -> None:
    tracker = StatisticsTracker(clock=Clock())
    tracker.record(result(TaskStatus.SUCCESS, 0.1))
    assert tracker.snapshot().throughput == 0.0


def test_percentiles_use_the_recent_window_but_mean_and_counts_all() -> None:
    tracker = StatisticsTracker(window=2, clock=Clock())
    for wall in (100.0, 1.0, 1.0):
        tracker.record(result(TaskStatus.SUCCESS, wall))
    snapshot = tracker.snapshot()
    assert snapshot.total == 3
    assert snapshot.wall_time_p95 == 1.0
    assert snapshot.wall_time_mean == pytest.approx(34.0)


def test_tasks_that_never_ran_are_counted_but_not_timed() -> None:
    tracker = StatisticsTracker(clock=Clock())
    for wall in (2.0, 4.0):
        tracker.record(result(TaskStatus.SUCCESS, wall))
    for _ in range(5):  # cancelled while queued, or refused by the engine: no wall time
        tracker.record(result(TaskStatus.CANCELLED, 0.0))
    snapshot = tracker.snapshot()
    assert snapshot.total == 7 and snapshot.by_status == {"SUCCESS": 2, "CANCELLED": 5}
    assert snapshot.wall_time_mean == pytest.approx(3.0)
    assert (snapshot.wall_time_p50, snapshot.wall_time_p95) == (2.0, 4.0)
