"""``ResultCollector``: every finished result, in a cache fair between users, plus the statistics.

One user's flood of results evicts that user's own older ones first: another
user's results stay while they hold no more than their share of the cache.
With ``result_store``, every result is also committed to a SQLite file before
``add_many`` answers (so before its ref resolves), and ``get`` falls back to
it: results outlive the cache and the executor (``faber_ray/store.py``).
"""

from __future__ import annotations

import logging

import ray

from faber_ray.errors import ConfigurationError, ExecutionError
from faber_ray.frozen import Ended, Frozen
from faber_ray.models import ExecutionStatistics, TaskResult
from faber_ray.scheduling.lifecycle import owned_by
from faber_ray.scheduling.lru import ENTRY_OVERHEAD, FairCache
from faber_ray.scheduling.users import user_key
from faber_ray.scheduling.stats import StatisticsTracker
from faber_ray.store import ResultStore, StoredRow

__all__ = ["REUSABLE", "ResultCollector"]

log = logging.getLogger(__name__)

#: Statuses that say something about the program, so a result with one may serve an identical task.
#: ERROR (infrastructure) and CANCELLED say nothing about it, and are never reused.
REUSABLE = (
    "SUCCESS", "FAILURE", "TIMEOUT", "MEMORY_LIMIT_EXCEEDED", "CPU_LIMIT_EXCEEDED", "OUTPUT_LIMIT_EXCEEDED",
)


@ray.remote
class ResultCollector:
    """Serves ``get_result`` and ``stats``; results arrive fire-and-forget from the Scheduler."""

    def __init__(
        self, cache_size: int, cache_bytes: int | None = None, store: str | None = None, retention: float = 7 * 86400
    ) -> None:
        # Results stay as the bytes the worker made: storing one never unpickles it, and its size is exact.
        self._cache: FairCache[str, tuple[str | None, Frozen[TaskResult]]] = FairCache(
            cache_size, cache_bytes, lambda entry: ENTRY_OVERHEAD + len(entry[1])
        )
        self._stats = StatisticsTracker()
        self._keys: dict[str, str] = {}  # content key -> the newest execution id with a reusable result
        self._store: ResultStore | None = None
        self._store_error: ConfigurationError | None = None
        if store is not None:
            try:
                self._store = ResultStore(store, retention)
            except ConfigurationError as error:  # kept for ready(): the executor reports it as a sentence
                self._store_error = error

    def ready(self) -> None:
        """Raises the store's problem (a read-only or missing folder, a corrupt file), if it has one."""
        if self._store_error is not None:
            raise self._store_error

    def mark_submitted(self) -> None:
        self._stats.mark_submitted()

    def add_many(self, results: list[tuple[Ended, str | None, str | None]]) -> str | None:
        """Store a batch of ``(result, owner, content key)`` (whatever finished while the last batch was
        on its way); with a store, answer once it is committed. Returns why the store failed, if it did
        (the results are still cached and counted, and their refs say so)."""
        for ended, user, key in results:
            self._cache.put(ended.execution_id, (user, ended.result), user_key(user))
            self._stats.record_outcome(ended.status, ended.wall_time)
            if key is not None and ended.status in REUSABLE:
                self._keys[key] = ended.execution_id
        if self._store is None:
            return None
        try:
            self._store.put_many([
                StoredRow(ended.execution_id, user, key, ended.status, ended.result.blob)
                for ended, user, key in results
            ])
        except ExecutionError as error:
            log.error("%s", error)
            return error.reason
        return None

    def get(self, execution_id: str, user: str | None = None) -> Frozen[TaskResult] | None:
        """A cached result, still as bytes; None if unknown, evicted, or not ``user``'s (None: the
        cluster, which sees all)."""
        entry = self._cache.get(execution_id)
        if entry is None and self._store is not None:
            stored = self._store.get(execution_id)
            entry = (stored[0], Frozen(stored[1])) if stored is not None else None
        if entry is None or not owned_by(entry[0], user):
            return None
        return entry[1]

    def keep_notes(self, notes: list[tuple[str, str | None, bytes]]) -> None:
        """Keep ``(execution id, owner, bytes)`` in the store, if there is one (else nothing outlives us)."""
        if self._store is not None:
            try:
                self._store.put_notes(notes)
            except ExecutionError as error:
                log.error("%s", error)

    def note(self, execution_id: str, user: str | None = None) -> bytes | None:
        """A kept note; None if unknown, or not ``user``'s."""
        found = self._store.note(execution_id) if self._store is not None else None
        if found is None or not owned_by(found[0], user):
            return None
        return found[1]

    def find(self, keys: list[str]) -> dict[str, tuple[str, Frozen[TaskResult]]]:
        """For each content key with a reusable result (cached, or in the store): ``(execution id, result)``."""
        found: dict[str, tuple[str, Frozen[TaskResult]]] = {}
        for key in dict.fromkeys(keys):
            execution_id = self._keys.get(key)
            entry = self._cache.get(execution_id) if execution_id is not None else None
            if execution_id is not None and entry is not None:
                found[key] = (execution_id, entry[1])
            elif self._store is not None:
                stored = self._store.find(key, REUSABLE)
                if stored is not None:
                    found[key] = (stored[0], Frozen(stored[1]))
        return found

    def stats(self, queued: int, running: int) -> ExecutionStatistics:
        return self._stats.snapshot(queued=queued, running=running)

    def cache_info(self) -> dict[str, int]:
        return {
            "size": len(self._cache), "capacity": self._cache.capacity, "evictions": self._cache.evictions,
            "bytes": self._cache.bytes, "max_bytes": self._cache.max_bytes or 0,
            "stored": self._store.count() if self._store is not None else 0,
        }
