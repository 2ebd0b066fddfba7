"""The per-task cost breakdown, without Ray."""

from __future__ import annotations

import pytest

from faber_ray.scheduling.phases import PHASES, PhaseClock, PhaseStamps


def test_each_phase_is_its_own_slice_of_the_time() -> None:
    clock = PhaseClock()
    # Queued at 0, dispatched at 1, the worker answered at 4 after being busy 2.5 s,
    # of which the sandbox took 2; delivered at 4.5.
    clock.record(PhaseStamps(enqueued=0.0, dispatched=1.0, returned=4.0, worker_busy=2.5, sandbox=2.0), 4.5)
    means = clock.means()
    assert [means[phase] for phase in PHASES] == pytest.approx([1.0, 0.5, 2.0, 0.5, 0.5])
    assert means["tasks"] == 1


def test_tasks_that_never_ran_are_not_counted_and_the_window_slides() -> None:
    clock = PhaseClock(window=2)
    clock.record(PhaseStamps(enqueued=0.0), 1.0)  # cancelled while queued
    assert clock.means()["tasks"] == 0
    for queue in (1.0, 2.0, 3.0):
        clock.record(PhaseStamps(enqueued=0.0, dispatched=queue, returned=queue + 1, worker_busy=1, sandbox=1), queue + 1)
    assert clock.means()["queue"] == pytest.approx(2.5)
