"""Small LRU maps bounded by count and by bytes: the ResultCollector's cache of finished results.

A count alone does not bound memory: one result may carry 16 MiB of output
(``max_task_output``) and another a few bytes, so the cache (and the HTTP
replica's book, which sizes its entries the same way) also keeps the sum of
its entries' sizes under a byte budget, evicting the least recently used.

A plain LRU shared by many users lets one user who floods it with results push
out everyone else's before they are read. :class:`FairCache` evicts from the
user holding the largest share instead, so a user within a fair share keeps
their results however much another one stores.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from faber_ray.models import TaskResult

__all__ = ["ENTRY_OVERHEAD", "FairCache", "LRUCache", "result_bytes"]

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


class FairCache(Generic[K, V]):
    """An LRU per owner under one shared budget of ``capacity`` entries and ``max_bytes`` bytes.

    When over budget it evicts the least recently used entry of the owner with
    the largest share, ``max(entries / capacity, bytes / max_bytes)``, until
    within budget again (ties: the owner whose LRU entry is oldest). An owner
    at or under its share is never evicted by another's flood: the flooder is
    always the larger one. The entry just stored always stays, even alone over
    the byte budget, since the caller has just handed it over to be read.
    """

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
        self._owners: dict[K, str] = {}  # key -> its owner
        self._entries: dict[str, OrderedDict[K, tuple[V, int, int]]] = {}  # owner -> key -> (value, size, tick)
        self._bytes: dict[str, int] = {}  # owner -> the sum of its entries' sizes
        self._tick = 0  # grows on every put and get: an entry's tick says when it was last used

    def __len__(self) -> int:
        return len(self._owners)

    def __contains__(self, key: object) -> bool:
        return key in self._owners

    def owner_of(self, key: K) -> str | None:
        return self._owners.get(key)

    def usage(self) -> dict[str, tuple[int, int]]:
        """Entries and bytes per owner, for every owner with any."""
        return {owner: (len(entries), self._bytes[owner]) for owner, entries in self._entries.items()}

    def get(self, key: K) -> V | None:
        owner = self._owners.get(key)
        if owner is None:
            return None
        entries = self._entries[owner]
        value, size, _ = entries[key]
        self._tick += 1
        entries[key] = (value, size, self._tick)
        entries.move_to_end(key)
        return value

    def put(self, key: K, value: V, owner: str) -> None:
        size = self._sizer(value) if self.max_bytes is not None else 0
        self._drop(key)
        self._tick += 1
        self._entries.setdefault(owner, OrderedDict())[key] = (value, size, self._tick)
        self._owners[key] = owner
        self._bytes[owner] = self._bytes.get(owner, 0) + size
        self.bytes += size
        while self._over_budget():
            victim = self._largest(spare=key)
            if victim is None:
                break
            gone = next(iter(self._entries[victim]))
            self._drop(gone)
            self.evictions += 1

    def _over_budget(self) -> bool:
        return len(self._owners) > self.capacity or (self.max_bytes is not None and self.bytes > self.max_bytes)

    def _share(self, owner: str) -> float:
        share = len(self._entries[owner]) / self.capacity
        if self.max_bytes is not None:
            share = max(share, self._bytes[owner] / self.max_bytes)
        return share

    def _largest(self, spare: K) -> str | None:
        """The owner to evict from: the largest share among those with an entry other than ``spare``."""
        best: tuple[float, int] | None = None
        chosen: str | None = None
        for owner, entries in self._entries.items():
            lru_key = next(iter(entries))
            if lru_key == spare:  # spare is the newest, so it is first only when alone
                continue
            key = (-self._share(owner), entries[lru_key][2])
            if best is None or key < best:
                best, chosen = key, owner
        return chosen

    def _drop(self, key: K) -> None:
        owner = self._owners.pop(key, None)
        if owner is None:
            return
        entries = self._entries[owner]
        _, size, _ = entries.pop(key)
        self.bytes -= size
        if entries:
            self._bytes[owner] -= size
        else:
            del self._entries[owner], self._bytes[owner]
