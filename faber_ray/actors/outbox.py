"""Tasks on their way from the Scheduler to workers: one ``assign`` call in flight per worker.

While a call to a worker is on its way, whatever else is dispatched to it
gathers here and goes in the next call. A lone task goes at once; under load
the batches grow by themselves, and the Ray calls per task (the Scheduler's
main cost) shrink.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from ray.exceptions import RayError

__all__ = ["WorkerOutbox"]

#: (execution id, the task as the executor froze it, attempt)
Assignment = tuple[str, Any, int]


class WorkerOutbox:
    """Per worker: tasks not sent yet, and whether a call is on its way."""

    def __init__(
        self,
        handle: Callable[[str], Any | None],
        spawn: Callable[[Coroutine[Any, Any, None]], Any],
        lost: Callable[[str, BaseException], None],
    ) -> None:
        self._handle = handle
        self._spawn = spawn
        self._lost = lost
        self._waiting: dict[str, list[Assignment]] = {}
        self._sending: set[str] = set()

    def send(self, worker: str, batch: list[Assignment]) -> None:
        self._waiting.setdefault(worker, []).extend(batch)
        if worker not in self._sending:
            self._sending.add(worker)
            self._spawn(self._send_loop(worker))

    def drop(self, worker: str) -> None:
        """Forget what was not sent to a lost worker: its tasks are retried, never sent to a successor
        of the same name."""
        self._waiting.pop(worker, None)

    async def _send_loop(self, worker: str) -> None:
        try:
            while self._waiting.get(worker):
                batch = self._waiting.pop(worker)
                handle = self._handle(worker)
                if handle is None:
                    self._lost(worker, KeyError(worker))
                    return
                try:
                    await handle.assign.remote(batch)
                except RayError:
                    self.drop(worker)  # it died: the pool's watch call hands its tasks back, these included
                    return
        finally:
            self._sending.discard(worker)
