"""Warm containers of one runner: which idle one serves the next task, and which must go.

A container is handed back only after a task that ended cleanly (its own
success or failure); its reset is requested at once and its answer is read
when the container is next taken, so the reset overlaps with delivering the
result. The pool never holds more than ``capacity`` containers (idle or busy);
when a task of another profile needs room, the idle container unused longest
goes. Containers past ``max_uses`` or idle past ``idle_seconds`` are recycled.
The decisions are plain code over an injected clock, unit-tested without an engine.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from faber_ray.sandbox.spec import SandboxProfile

__all__ = ["PooledContainer", "WarmPool"]


class PooledContainer(Protocol):
    profile: SandboxProfile
    uses: int
    idle_since: float


C = TypeVar("C", bound=PooledContainer)


class WarmPool(Generic[C]):
    """Thread-safe book of idle containers, by profile, least recently used first."""

    def __init__(
        self, capacity: int, max_uses: int, idle_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = capacity
        self.max_uses = max_uses
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._idle: list[C] = []
        self._busy = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._idle) + self._busy

    def take(self, profile: SandboxProfile) -> tuple[C | None, list[C]]:
        """An idle container of ``profile`` (or None: start one), and idle ones to remove to make room."""
        with self._lock:
            evict = self._expired_locked()
            match = next((box for box in reversed(self._idle) if box.profile == profile), None)
            if match is not None:
                self._idle.remove(match)
            elif self._busy + len(self._idle) >= self.capacity and self._idle:
                evict.append(self._idle.pop(0))
            self._busy += 1
            return match, evict

    def give(self, container: C | None) -> bool:
        """End a use. With a container, keep it idle (True) unless it is used up (False: remove it)."""
        with self._lock:
            self._busy = max(0, self._busy - 1)
            if container is None:
                return False
            if container.uses >= self.max_uses or self._busy + len(self._idle) >= self.capacity:
                return False
            container.idle_since = self._clock()
            self._idle.append(container)
            return True

    def expired(self) -> list[C]:
        """Idle containers past ``idle_seconds``, taken out of the pool for removal."""
        with self._lock:
            return self._expired_locked()

    def _expired_locked(self) -> list[C]:
        now = self._clock()
        old = [box for box in self._idle if now - box.idle_since >= self.idle_seconds]
        self._idle = [box for box in self._idle if box not in old]
        return old

    def drain(self) -> list[C]:
        """Every idle container, out of the pool (at shutdown)."""
        with self._lock:
            idle, self._idle = self._idle, []
            return idle
