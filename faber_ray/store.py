"""The result store: finished results in a SQLite database, so that they outlive the executor.

The ResultCollector writes each batch of results in one transaction and
answers only once it is committed; the Scheduler resolves a result's ref only
after that answer. So a result a caller has seen is on disk, and a new
executor (or a restarted ``faber-ray serve``) opened on the same file finds
it. Rows older than the retention are deleted as the store is used.

Results are kept as the bytes the worker made (``faber_ray.frozen``): the
store never unpickles them. The database is only ever opened from the path
the operator configured, never from anything a task named.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from faber_ray.errors import ConfigurationError, ExecutionError

__all__ = ["PRUNE_EVERY_SECONDS", "ResultStore", "StoredRow"]

#: Old rows are deleted at most this often (and when the store opens).
PRUNE_EVERY_SECONDS = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    execution_id TEXT PRIMARY KEY,
    owner TEXT,
    content_key TEXT,
    status TEXT NOT NULL,
    finished_at REAL NOT NULL,
    result BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_key ON results (content_key) WHERE content_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS results_by_age ON results (finished_at);
CREATE TABLE IF NOT EXISTS notes (
    execution_id TEXT PRIMARY KEY,
    owner TEXT,
    kept_at REAL NOT NULL,
    note BLOB NOT NULL
);
"""


class StoredRow(NamedTuple):
    """One result to store: its id, owner (None: the cluster's own), content key (for dedupe), status
    and pickled bytes."""

    execution_id: str
    owner: str | None
    content_key: str | None
    status: str
    result: bytes


class ResultStore:
    """A SQLite file of results; one instance per process, used from one thread at a time."""

    def __init__(self, path: str, retention_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.retention_seconds = retention_seconds
        self._clock = clock
        self._last_prune = 0.0
        try:
            folder = Path(path).expanduser().parent
            if not folder.is_dir():
                raise OSError(f"its folder {str(folder)!r} does not exist")
            self._db = sqlite3.connect(Path(path).expanduser(), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives a crash of the process
            self._db.executescript(_SCHEMA)
            self._db.execute("BEGIN IMMEDIATE")  # can we write? (a read-only file or folder fails here)
            self._db.execute("ROLLBACK")
            self.prune()
        except (OSError, sqlite3.Error) as error:
            raise ConfigurationError(
                f"result_store {path!r} cannot be used: {error}; give a writable file path on the node where the "
                "executor runs, or leave result_store unset",
                field="result_store",
            ) from None

    def put_many(self, rows: Sequence[StoredRow]) -> None:
        """Store a batch in one transaction; returns once it is committed (``ExecutionError`` if not)."""
        now = self._clock()
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
                    [(r.execution_id, r.owner, r.content_key, r.status, now, r.result) for r in rows],
                )
        except sqlite3.Error as error:
            raise ExecutionError(f"the result store {self.path!r} could not store {len(rows)} result(s): {error}") from None
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self.prune()

    def get(self, execution_id: str) -> tuple[str | None, bytes] | None:
        """``(owner, result bytes)`` of a stored result, or None."""
        row = self._db.execute(
            "SELECT owner, result FROM results WHERE execution_id = ? AND finished_at >= ?",
            (execution_id, self._clock() - self.retention_seconds),
        ).fetchone()
        return (row[0], bytes(row[1])) if row is not None else None

    def find(self, content_key: str, reusable: Sequence[str]) -> tuple[str, bytes] | None:
        """The newest stored result of a task with this content whose status is one of ``reusable``:
        ``(execution id, result bytes)``, or None."""
        marks = ", ".join("?" for _ in reusable)
        row = self._db.execute(
            f"SELECT execution_id, result FROM results WHERE content_key = ? AND status IN ({marks}) "  # noqa: S608
            "AND finished_at >= ? ORDER BY finished_at DESC LIMIT 1",
            (content_key, *reusable, self._clock() - self.retention_seconds),
        ).fetchone()
        return (row[0], bytes(row[1])) if row is not None else None

    def put_notes(self, rows: Sequence[tuple[str, str | None, bytes]]) -> None:
        """Keep ``(execution id, owner, bytes)`` beside the results: what a front end needs to answer for
        an execution after a restart (the HTTP API's Judge0 submission records)."""
        now = self._clock()
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO notes VALUES (?, ?, ?, ?)",
                                     [(execution_id, owner, now, note) for execution_id, owner, note in rows])
        except sqlite3.Error as error:
            raise ExecutionError(f"the result store {self.path!r} could not keep {len(rows)} note(s): {error}") from None

    def note(self, execution_id: str) -> tuple[str | None, bytes] | None:
        row = self._db.execute(
            "SELECT owner, note FROM notes WHERE execution_id = ? AND kept_at >= ?",
            (execution_id, self._clock() - self.retention_seconds),
        ).fetchone()
        return (row[0], bytes(row[1])) if row is not None else None

    def prune(self) -> int:
        """Delete rows older than the retention; returns how many."""
        self._last_prune = self._clock()
        with self._db:
            self._db.execute("BEGIN")
            deleted = self._db.execute(
                "DELETE FROM results WHERE finished_at < ?", (self._last_prune - self.retention_seconds,)
            ).rowcount
            self._db.execute("DELETE FROM notes WHERE kept_at < ?", (self._last_prune - self.retention_seconds,))
        return int(deleted)

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def close(self) -> None:
        self._db.close()
