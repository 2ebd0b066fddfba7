"""Live output of the tasks a worker holds, for whoever watches them (``TaskExecutor.watch``).

A relay exists from the moment a task is handed to the worker until its run
ends, so a watcher who comes while the task waits for a slot, or after it has
written some output, still gets everything from the start (the agent has
already capped each stream at ``max_output``). A watcher who comes after the
run ended finds no relay and gets only the result, whose ``stdout`` and
``stderr`` hold the same output.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from faber_ray.models import OutputChunk

__all__ = ["Relay", "RelayBook"]

_END = None


class Relay:
    """One task's output so far, and the queues of those watching it."""

    def __init__(self) -> None:
        self._chunks: list[tuple[int | None, str, bytes]] = []  # kept raw: most tasks are never watched
        self._watchers: list[queue.SimpleQueue[tuple[int | None, str, bytes] | None]] = []
        self._ended = False
        self._lock = threading.Lock()

    def add(self, step: int | None, stream: str, data: bytes) -> None:
        chunk = (step, stream, data)
        with self._lock:
            self._chunks.append(chunk)
            for watcher in self._watchers:
                watcher.put(chunk)

    def end(self) -> None:
        with self._lock:
            self._ended = True
            for watcher in self._watchers:
                watcher.put(_END)

    def follow(self) -> Iterator[OutputChunk]:
        """Everything written so far, then each chunk as it comes, until the run ends."""
        inbox: queue.SimpleQueue[tuple[int | None, str, bytes] | None] = queue.SimpleQueue()
        with self._lock:
            backlog = list(self._chunks)
            ended = self._ended
            if not ended:
                self._watchers.append(inbox)
        for step, stream, data in backlog:
            yield OutputChunk(stream=stream, data=data, step=step)  # type: ignore[arg-type]
        if ended:
            return
        try:
            while (chunk := inbox.get()) is not _END:
                step, stream, data = chunk
                yield OutputChunk(stream=stream, data=data, step=step)  # type: ignore[arg-type]
        finally:
            with self._lock:
                if inbox in self._watchers:
                    self._watchers.remove(inbox)


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
