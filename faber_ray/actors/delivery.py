"""Store finished results in the ResultCollector in batches, then hand each on.

Whoever holds a result must also find it with ``get_result`` and see it
counted in ``stats``, so a result is stored before its ref resolves. Storing
one call per result would cap throughput at Ray's call rate; instead the
results that finish while one batch is on its way go together in the next.
The slot a task used is free before this starts, so the short gathering delay
holds back refs, never work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ray.exceptions import RayError

from faber_ray.errors import short_error
from faber_ray.frozen import Ended

__all__ = ["DELIVERY_DELAY", "ResultDelivery"]

log = logging.getLogger(__name__)

#: Results wait this long to be stored together; while other tasks run, ``BUSY_DELIVERY_DELAY``:
#: a call costs the collector (and this actor) far more than one more result in it, so under load a
#: batch gathers for longer and holds back refs, never work (their slots are free already).
DELIVERY_DELAY = 0.002
BUSY_DELIVERY_DELAY = 0.02


class ResultDelivery:
    """``add`` results as they end; each reaches ``on_stored(result, now, problem)`` once the collector
    has it, ``problem`` saying why it could not be kept, if so (an unreachable collector, a failing
    store): a result is never held back for its cache, nor lost without a word."""

    def __init__(
        self,
        collector: Any,
        spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[Any]],
        on_stored: Callable[[Ended, float, str | None], None],
        busy: Callable[[], bool] = lambda: False,
    ) -> None:
        self._collector = collector
        self._spawn = spawn
        self._on_stored = on_stored
        self._busy = busy
        self._outbox: list[tuple[Ended, str | None, str | None]] = []
        self._running: asyncio.Task[Any] | None = None

    def add(self, result: Ended, user: str | None = None, key: str | None = None) -> None:
        """Store ``result`` (as bytes: the collector never unpickles it either) with its owner (who may
        read it back with ``get_result``) and its task's content key (for dedupe)."""
        self._outbox.append((result, user, key))
        if self._running is None:
            self._running = self._spawn(self._deliver(), "deliver")

    async def drain(self) -> None:
        """Return once everything added so far has been handed on."""
        while self._running is not None:
            await self._running

    async def _deliver(self) -> None:
        try:
            await asyncio.sleep(BUSY_DELIVERY_DELAY if self._busy() else DELIVERY_DELAY)  # let a batch gather
            while self._outbox:
                batch, self._outbox = self._outbox, []
                problem: str | None = None
                try:
                    problem = await self._collector.add_many.remote(batch)
                except RayError as error:
                    problem = f"the ResultCollector was unreachable ({short_error(error)})"
                    log.error("%s; %d results are not cached", problem, len(batch))
                now = time.monotonic()
                for result, _, _ in batch:
                    self._on_stored(result, now, problem)
        finally:
            self._running = None
