"""A dependency-free progress bar with counts by status, for long batches."""

from __future__ import annotations

import time
from collections import Counter
from typing import TextIO

__all__ = ["ProgressBar"]

_WIDTH = 24


class ProgressBar:
    """Redraws one line on a terminal (at most ten times a second); elsewhere,
    for logs, prints a plain line at every tenth of the way."""

    def __init__(self, total: int, stream: TextIO, *, interactive: bool | None = None) -> None:
        self.total = total
        self.stream = stream
        self.counts: Counter[str] = Counter()
        self.done = 0
        self.started = time.monotonic()
        self.interactive = stream.isatty() if interactive is None else interactive
        self._last_draw = 0.0
        self._last_tenth = -1

    def update(self, status: str) -> None:
        self.done += 1
        self.counts[status] += 1
        now = time.monotonic()
        if self.interactive:
            if now - self._last_draw >= 0.1 or self.done == self.total:
                self._last_draw = now
                self.stream.write("\r" + self.line() + "\x1b[K")
                self.stream.flush()
        else:
            tenth = self.done * 10 // max(self.total, 1)
            if tenth != self._last_tenth:
                self._last_tenth = tenth
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(fraction * _WIDTH)
        bar = "#" * filled + "." * (_WIDTH - filled)
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        counts = " ".join(f"{status} {count}" for status, count in sorted(self.counts.items()))
        return (
            f"[{bar}] {self.done}/{self.total} {fraction:4.0%} | {counts or 'waiting'} | "
            f"{rate:.1f} tasks/s, ETA {eta:.0f} s"
        )
