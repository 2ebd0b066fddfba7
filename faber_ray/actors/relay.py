"""Live output of the tasks a worker holds, for whoever watches them (``TaskExecutor.watch``).

A relay exists from the moment a task is handed to the worker until its run
ends, so a watcher who comes while the task waits for a slot, or after it has
written some output, still gets everything from the start (the agent has
already capped each stream at ``max_output``). A watcher who comes after the
run ended finds no relay and gets only the result, whose ``stdout`` and
``stderr`` hold the same output.

Output arrives on the slot threads that run tasks; watchers are coroutines on
the worker's event loop, each with a queue fed through
``loop.call_soon_threadsafe``. A watcher therefore holds no thread: a hundred
idle watchers cost a hundred small queues, never a slot, a dispatch or a
cancel. A watcher that is cancelled (its consumer went away) is removed at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from faber_ray.models import OutputChunk

__all__ = ["Relay", "RelayBook"]

Chunk = tuple[int | None, str, bytes]
_END = None


class Relay:
    """One task's output so far, and the queues of those watching it."""

    def __init__(self) -> None:
        self._chunks: list[Chunk] = []  # kept raw: most tasks are never watched
        self._watchers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Chunk | None]]] = []
        self._ended = False
        self._lock = threading.Lock()

    def add(self, step: int | None, stream: str, data: bytes) -> None:
        chunk = (step, stream, data)
        with self._lock:
            self._chunks.append(chunk)
            self._notify(chunk)

    def end(self) -> None:
        with self._lock:
            self._ended = True
            self._notify(_END)

    def _notify(self, item: Chunk | None) -> None:
        for loop, inbox in self._watchers:
            try:
                loop.call_soon_threadsafe(inbox.put_nowait, item)
            except RuntimeError:
                pass  # the worker's loop is closing: it is shutting down

    @property
    def watchers(self) -> int:
        with self._lock:
            return len(self._watchers)

    async def follow(self) -> AsyncIterator[OutputChunk]:
        """Everything written so far, then each chunk as it comes, until the run ends."""
        watcher = (asyncio.get_running_loop(), asyncio.Queue[Chunk | None]())
        with self._lock:
            backlog = list(self._chunks)
            ended = self._ended
            if not ended:
                self._watchers.append(watcher)
        try:
            for step, stream, data in backlog:
                yield OutputChunk(stream=stream, data=data, step=step)  # type: ignore[arg-type]
            if ended:
                return
            while (chunk := await watcher[1].get()) is not _END:
                step, stream, data = chunk
                yield OutputChunk(stream=stream, data=data, step=step)  # type: ignore[arg-type]
        finally:
            with self._lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)


class RelayBook:
    """The relays of one worker, by execution id."""

    def __init__(self) -> None:
        self._relays: dict[str, Relay] = {}
        self._lock = threading.Lock()

    def open(self, execution_id: str) -> Relay:
        with self._lock:
            relay = self._relays[execution_id] = Relay()
            return relay

    def get(self, execution_id: str) -> Relay | None:
        with self._lock:
            return self._relays.get(execution_id)

    def close(self, execution_id: str) -> None:
        with self._lock:
            relay = self._relays.pop(execution_id, None)
        if relay is not None:
            relay.end()

    def watchers(self) -> int:
        """Watchers following any task of this worker now."""
        with self._lock:
            relays = list(self._relays.values())
        return sum(relay.watchers for relay in relays)
