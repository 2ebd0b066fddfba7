"""Where a task's time goes, phase by phase, so that the next bottleneck is visible.

The Scheduler stamps each task as it is queued, dispatched, returned by its
worker and delivered; the worker adds how long it was busy and how long the
sandbox itself ran. Means over a sliding window are kept per phase:

* ``queue``: accepted until handed to a worker;
* ``dispatch``: the Ray round trip to the worker, less the worker's own time;
* ``sandbox``: getting a container ready and running the command (``startup_time`` + ``wall_time``);
* ``reset``: the worker's time around the run: judging, releasing, resetting a warm container;
* ``delivery``: from the worker's answer until the result is stored and its ref resolves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["PHASES", "PhaseClock", "PhaseStamps"]

PHASES = ("queue", "dispatch", "sandbox", "reset", "delivery")


@dataclass
class PhaseStamps:
    """Monotonic seconds on the Scheduler's clock, and durations measured by the worker."""

    enqueued: float
    dispatched: float = 0.0
    returned: float = 0.0
    worker_busy: float = 0.0
    sandbox: float = 0.0


class PhaseClock:
    """Means of each phase over the last ``window`` tasks."""

    def __init__(self, window: int = 1000) -> None:
        self._samples: deque[tuple[float, ...]] = deque(maxlen=window)

    def record(self, stamps: PhaseStamps, delivered: float) -> None:
        if not stamps.dispatched or not stamps.returned:
            return  # it never ran (cancelled while queued): nothing to learn
        self._samples.append((
            stamps.dispatched - stamps.enqueued,
            max(0.0, stamps.returned - stamps.dispatched - stamps.worker_busy),
            stamps.sandbox,
            max(0.0, stamps.worker_busy - stamps.sandbox),
            delivered - stamps.returned,
        ))

    def means(self) -> dict[str, float]:
        """Seconds per task per phase, plus how many tasks the means cover."""
        count = len(self._samples)
        means = {phase: (sum(sample[i] for sample in self._samples) / count if count else 0.0)
                 for i, phase in enumerate(PHASES)}
        return {**means, "tasks": float(count)}
