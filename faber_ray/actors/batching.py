"""Coalesce fire-and-forget calls: many small messages become one Ray call.

Ray does a few thousand actor calls a second; at hundreds of tasks a second
one call per task per message would be the bottleneck. A ``Batcher`` sends
what has gathered once it holds ``max_items`` or once ``max_delay`` has passed
since the first item came in, from a thread of its own, so nothing waits for
the call and nothing lingers unsent. With ``max_delay=0`` nothing waits at all:
a batch is whatever gathered while the last one was being sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")

log = logging.getLogger(__name__)


class Batcher(Generic[T]):
    """Thread-safe; ``send`` is called with each batch, in order, never concurrently."""

    def __init__(self, send: Callable[[list[T]], None], *, max_items: int = 64, max_delay: float = 0.2) -> None:
        self._send = send
        self._max_items = max_items
        self._max_delay = max_delay
        self._items: list[T] = []
        self._ready = threading.Condition()
        self._closed = False
        self._urgent = False
        self._thread = threading.Thread(target=self._loop, name="batcher", daemon=True)
        self._thread.start()

    def add(self, item: T, *, urgent: bool = False) -> None:
        """Queue ``item``; ``urgent`` sends what has gathered now, without waiting for more."""
        with self._ready:
            self._items.append(item)
            self._urgent = self._urgent or urgent
            if len(self._items) == 1 or len(self._items) >= self._max_items or urgent:
                self._ready.notify()

    def close(self, *, wait: bool = False) -> None:
        """Send what is left and stop; with ``wait``, return once it is sent."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        if wait:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._items or self._closed)
                if self._items and len(self._items) < self._max_items and not self._closed and not self._urgent:
                    # Let a batch fill for a moment; a full one, an urgent one (or close) goes at once.
                    self._ready.wait_for(
                        lambda: len(self._items) >= self._max_items or self._closed or self._urgent, self._max_delay
                    )
                self._urgent = False
                batch, self._items = self._items[: self._max_items], self._items[self._max_items :]
                closed = self._closed
            if batch:
                try:
                    self._send(batch)
                except Exception:  # noqa: BLE001 - a lost report must not kill the sender
                    log.exception("a batch of %d item(s) could not be sent", len(batch))
            if closed and not self._items:
                return
