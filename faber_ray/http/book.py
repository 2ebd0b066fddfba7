"""The replica's book of the tasks submitted through it, bounded by count and by bytes.

Every task submitted through the replica has an entry: its owner's user name,
its Judge0 record if it came through the Judge0 API, and its result once it
ends. Polls are answered from here without a call to the executor. A count
alone does not bound memory (one entry may hold 16 MiB of output and a big
source file), so the book keeps the sum of its entries' sizes under
:data:`BOOK_BYTES` as well as their number under :data:`BOOK_SIZE`, evicting
the oldest finished entries first; unfinished ones are bounded by the
executor's queue. A Judge0 record gives up its ``additional_files`` (a zip of
up to 64 MiB) once its run is over. Plain Python: no Ray, no FastAPI.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from faber_ray.models import TaskResult
from faber_ray.scheduling.lru import ENTRY_OVERHEAD, result_bytes

__all__ = ["BOOK_BYTES", "BOOK_SIZE", "Entry", "Record", "SubmissionBook"]

#: Entries the book keeps (finished ones are evicted oldest first beyond this).
BOOK_SIZE = 20_000
#: Bytes the book's entries may hold together (records and results).
BOOK_BYTES = 256 * 1024**2


class Record(Protocol):
    """What the book keeps beside a task (a Judge0 submission record)."""

    @property
    def nbytes(self) -> int: ...

    def settled(self) -> Record:
        """The record to keep once the run is over (without what only the run needed)."""
        ...


@dataclass
class Entry:
    """A task submitted through this replica."""

    user: str
    record: Record | None = None
    result: TaskResult | None = None
    seen_running: bool = False
    #: When this replica got the result (Judge0's ``finished_at``).
    finished_at: datetime | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    size: int = 0

    def measure(self) -> int:
        self.size = ENTRY_OVERHEAD + (self.record.nbytes if self.record is not None else 0) + (
            result_bytes(self.result) if self.result is not None else 0
        )
        return self.size


class SubmissionBook:
    """Entries by execution id, in submission order; ``bytes`` is what they hold now."""

    def __init__(self, max_entries: int = BOOK_SIZE, max_bytes: int = BOOK_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, execution_id: object) -> bool:
        return execution_id in self._entries

    def get(self, execution_id: str) -> Entry | None:
        return self._entries.get(execution_id)

    def add(self, execution_id: str, entry: Entry) -> None:
        self.bytes += entry.measure()
        self._entries[execution_id] = entry
        self._evict()

    def settle(self, entry: Entry, result: TaskResult) -> None:
        """``entry``'s task ended with ``result``: keep it, and let go of what only the run needed."""
        entry.result = result
        if entry.record is not None:
            entry.record = entry.record.settled()
        entry.finished_at = datetime.now(timezone.utc)
        self.bytes -= entry.size
        self.bytes += entry.measure()
        entry.done.set()
        self._evict()

    def _evict(self) -> None:
        """The oldest finished entries go first, while either bound is passed."""
        if len(self._entries) <= self.max_entries and self.bytes <= self.max_bytes:
            return
        for execution_id in [key for key, entry in self._entries.items() if entry.result is not None]:
            self.bytes -= self._entries.pop(execution_id).size
            if len(self._entries) <= self.max_entries and self.bytes <= self.max_bytes:
                return
