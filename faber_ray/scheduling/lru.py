"""A small LRU map bounded by count and by bytes: the ResultCollector's cache of finished results.

A count alone does not bound memory: one result may carry 16 MiB of output
(``max_task_output``) and another a few bytes, so the cache (and the HTTP
replica's book, which sizes its entries the same way) also keeps the sum of
its entries' sizes under a byte budget, evicting the least recently used.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from faber_ray.models import TaskResult

__all__ = ["ENTRY_OVERHEAD", "LRUCache", "result_bytes"]

K = TypeVar("K")
V = TypeVar("V")

#: What an entry costs beyond the text and bytes it carries (the objects around them), roughly.
ENTRY_OVERHEAD = 1024


def result_bytes(result: TaskResult) -> int:
    """About how much memory ``result`` holds: its output, its steps' output and its collected files."""
    size = ENTRY_OVERHEAD + len(result.stdout) + len(result.stderr) + len(result.error or "")
    size += sum(len(path) + len(content) for path, content in result.files.items())
    for step in result.steps or []:
        size += ENTRY_OVERHEAD + len(step.stdout) + len(step.stderr)
    return size


class LRUCache(Generic[K, V]):
    """Keeps the most recently stored or read entries: at most ``capacity`` of them and, with
    ``max_bytes``, at most that many bytes as ``sizer`` counts them (the newest entry always stays)."""

    def __init__(
        self, capacity: int, max_bytes: int | None = None, sizer: Callable[[V], int] | None = None
    ) -> None:
        if capacity <= 0 or (max_bytes is not None and max_bytes <= 0):
            raise ValueError("capacity and max_bytes must be positive")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.evictions = 0
        self.bytes = 0
        self._sizer = sizer or (lambda _: 0)
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: K) -> V | None:
        if key not in self._data:
            return None
        self._data.move_to_end(key)
        return self._data[key][0]

    def put(self, key: K, value: V) -> None:
        size = self._sizer(value) if self.max_bytes is not None else 0
        old = self._data.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._data[key] = (value, size)
        self.bytes += size
        while len(self._data) > self.capacity or (
            self.max_bytes is not None and self.bytes > self.max_bytes and len(self._data) > 1
        ):
            _, (_, gone) = self._data.popitem(last=False)
            self.bytes -= gone
            self.evictions += 1
