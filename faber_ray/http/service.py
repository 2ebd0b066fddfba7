"""What the HTTP replica knows: the executor's handle and a bounded book of the tasks it submitted.

Every task submitted through this replica is entered in the book with its
owner's user name (and, for the Judge0 API, its submission record), and a
coroutine awaits its result ref. Polling a task of the book is then an
in-memory lookup: 1,000 Judge0 clients polling every 0.1 s cost the executor
nothing but one shared ``pending()`` call every quarter second, which tells
"In Queue" from "Processing". Tasks the book does not know (submitted through
Ray, or evicted) are looked up in the executor (``get_result``, ``pending``).

The book lives in the one replica (the deployment has one): it is bounded
(:data:`BOOK_SIZE`), evicting the oldest finished entries first; unfinished
ones are bounded by the executor's queue.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
from collections import OrderedDict
from datetime import datetime, timezone
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import ray

from fastapi import Request

from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError, unwrap_error
from faber_ray.http.auth import TokenTable
from faber_ray.http.book import Entry, SubmissionBook
from faber_ray.languages import LANGUAGES
from faber_ray.models import OutputChunk, TaskResult, TaskStatus
from faber_ray.scheduling.watchers import WatcherCaps

__all__ = ["Service", "State", "log", "service_of"]

log = logging.getLogger("ray.serve")

#: How old the shared ``pending()`` view may be when a poll reads it.
_VIEW_AGE = 0.25
#: How long the replica trusts what the executor said about which images some node has.
IMAGES_AGE = 10.0

State = Literal["queued", "running"]


class Service:
    """The replica's state; the routers reach it through ``request.app.state.service``."""

    def __init__(self, executor: Any, config: ExecutorConfig, tokens: TokenTable, wait_limit: float) -> None:
        self.executor = executor
        self.config = config
        self.tokens = tokens
        #: Longest a request waits for results (``wait=true``) before answering what it has.
        self.wait_limit = wait_limit
        self._book = SubmissionBook()
        self._settling: set[asyncio.Task[None]] = set()
        self._view: dict[str, set[str]] = {"queued": set(), "running": set()}
        self._view_at = float("-inf")
        self._view_lock = asyncio.Lock()
        #: This replica's watchers of live output, so that one over a cap is a 429 before the stream starts.
        self.watchers = WatcherCaps()
        #: Called with each book entry once its result is in (Judge0's statistics count verdicts).
        self.on_settled: list[Callable[[Entry], None]] = []
        self._images: tuple[float, frozenset[str]] | None = None
        self._images_lock = asyncio.Lock()

    @classmethod
    async def connect(cls, executor_name: str, namespace: str, tokens: TokenTable, wait_limit: float) -> Service:
        """Find the executor by name (Serve's actors live in the namespace "serve", faber-ray's do not)."""
        handle = ray.get_actor(executor_name, namespace=namespace)
        config = await handle.config.remote()
        return cls(handle, config, tokens, wait_limit)

    # Submitting and waiting ----------------------------------------------------------

    async def submit(
        self, tasks: Sequence[Any], user: str, records: Callable[[str, int], Any] | None = None, priority: int = 0
    ) -> list[str]:
        """Hand a batch to the executor without waiting for room; raises the executor's refusal as it is
        (``QueueFullError`` when the queue cannot take the batch now). ``records(execution_id, position)``
        makes what the book keeps beside each task (a Judge0 submission record)."""
        try:
            ids, refs = await self.executor.submit_with_ids.remote(list(tasks), user, False, priority)
        except ExecutorError as error:
            raise unwrap_error(error) from None
        notes: list[tuple[str, str | None, bytes]] = []
        for position, (execution_id, ref) in enumerate(zip(ids, refs)):
            entry = Entry(user, records(execution_id, position) if records is not None else None)
            self._book.add(execution_id, entry)
            portable = getattr(entry.record, "portable", None)  # a Judge0 submission's record
            if portable is not None:
                notes.append((execution_id, user, pickle.dumps(portable())))
            settling = asyncio.ensure_future(self._settle(execution_id, entry, ref))
            self._settling.add(settling)
            settling.add_done_callback(self._settling.discard)
        if notes:  # kept with the results (with a result_store), so that a restarted replica can answer
            self.executor.keep_notes.remote(notes)
        log.info("user %s submitted %d task(s): %s", user, len(ids), ", ".join(ids[:5]))
        return list(ids)

    async def restored(self, execution_id: str, user: str) -> tuple[Any, TaskResult] | None:
        """A finished submission this replica's book does not hold (it was restarted): the record it
        kept with the results, and the result; None if there is none (or it is another user's)."""
        note: bytes | None = await self.executor.note.remote(execution_id, user)
        if note is None:
            return None
        result: TaskResult | None = await self.executor.get_result.remote(execution_id, user)
        if result is None:
            return None
        # The note was pickled by this code, into the store the operator configured: not task input.
        return pickle.loads(note), result  # noqa: S301

    async def _settle(self, execution_id: str, entry: Entry, ref: ray.ObjectRef) -> None:
        try:
            result: TaskResult = await ref
        except Exception as error:  # noqa: BLE001 - a lost execution still gets an answer
            result = TaskResult(
                execution_id=execution_id, status=TaskStatus.ERROR,
                error=f"the execution was lost: {unwrap_error(error)}",
            )
        self._book.settle(entry, result)
        for hook in self.on_settled:
            try:
                hook(entry)
            except Exception:  # noqa: BLE001 - a count must never lose a result
                log.exception("a settle hook failed for %s", execution_id)

    @property
    def book_bytes(self) -> int:
        """What the replica's book of submissions holds now, in bytes."""
        return self._book.bytes

    async def runnable_images(self) -> frozenset[str]:
        """Which languages' images some sandbox node has, as the executor says (what a task naming one needs to
        be admitted); asked at most every :data:`IMAGES_AGE` seconds, and shared by all requests meanwhile."""
        async with self._images_lock:
            if self._images is None or time.monotonic() - self._images[0] > IMAGES_AGE:
                wanted = sorted({lang.image for lang in LANGUAGES.values()})
                present = await self.executor.images_present.remote(wanted)
                self._images = (time.monotonic(), frozenset(name for name, yes in zip(wanted, present) if yes))
            return self._images[1]

    def entry(self, execution_id: str, user: str) -> Entry | None:
        """The book's entry for ``execution_id`` if it is ``user``'s: another user's task is unknown here."""
        entry = self._book.get(execution_id)
        return entry if entry is not None and entry.user == user else None

    async def wait(self, ids: Sequence[str], limit: float | None = None) -> list[TaskResult] | None:
        """The results of ``ids`` (all in the book), in order; None if ``limit`` (or ``wait_limit``) passed first.

        A request that is cancelled while it waits (its client went away) cancels
        every task of ``ids`` that has not finished.
        """
        entries = [entry for execution_id in ids if (entry := self._book.get(execution_id)) is not None]
        try:
            await asyncio.wait_for(
                asyncio.gather(*(entry.done.wait() for entry in entries)), self.wait_limit if limit is None else limit
            )
        except asyncio.TimeoutError:
            return None
        except asyncio.CancelledError:
            self.abandon(ids)
            raise
        return [entry.result for entry in entries if entry.result is not None]

    def abandon(self, ids: Sequence[str]) -> None:
        """Cancel the unfinished tasks of ``ids``: their requester is gone."""
        for execution_id in ids:
            entry = self._book.get(execution_id)
            if entry is not None and entry.result is None:
                log.info("cancelling %s: user %s went away", execution_id, entry.user)
                self.executor.cancel.remote(execution_id)  # fire and forget: this request is ending

    # Looking up --------------------------------------------------------------------------

    async def _pending_view(self, fresh: bool = False) -> dict[str, set[str]]:
        """The executor's ``pending()``, shared by all polls and at most a quarter second old."""
        async with self._view_lock:
            if fresh or time.monotonic() - self._view_at > _VIEW_AGE:
                view = await self.executor.pending.remote()
                self._view = {"queued": set(view["queued"]), "running": set(view["running"])}
                self._view_at = time.monotonic()
            return self._view

    async def state_of(self, execution_id: str, entry: Entry) -> State:
        """Queued or running, for a book entry without a result."""
        view = await self._pending_view()
        if execution_id in view["running"]:
            entry.seen_running = True
        return "running" if entry.seen_running else "queued"

    async def lookup(self, execution_id: str, user: str) -> TaskResult | State | None:
        """``user``'s task: its result, or whether it is queued or running; None if it is unknown, or
        another user's (the two must answer alike, so that ownership cannot be probed)."""
        entry = self.entry(execution_id, user)
        if entry is not None:
            return entry.result if entry.result is not None else await self.state_of(execution_id, entry)
        if execution_id in self._book:
            return None  # another user's task of this book: no need to ask the executor
        result: TaskResult | None = await self.executor.get_result.remote(execution_id, user)
        if result is not None:
            return result
        view = await self.executor.pending.remote(user)
        if execution_id in view["running"]:
            return "running"
        if execution_id in view["queued"]:
            return "queued"
        # It may have finished between the two calls.
        late: TaskResult | None = await self.executor.get_result.remote(execution_id, user)
        return late

    async def cancel(self, execution_id: str, user: str) -> bool:
        return bool(await self.executor.cancel.remote(execution_id, user))

    async def watch(self, execution_id: str, user: str) -> AsyncIterator[OutputChunk | TaskResult]:
        """``user``'s task's output chunks as they are written, then its result (``TaskExecutor.watch``).

        Counted against the watcher caps (``check_watch`` refuses before a response starts); if the
        consumer goes away first, the executor's watch is cancelled at once, and with it the worker's.
        """
        self.watchers.open(execution_id, user)
        try:
            entry = self.entry(execution_id, user)
            if entry is not None and entry.result is not None:
                yield entry.result
                return
            stream = self.executor.watch.remote(execution_id, user)
            ended = False
            try:
                async for ref in stream:
                    item = await ref
                    if isinstance(item, TaskResult) and entry is not None and entry.result is None:
                        await entry.done.wait()  # the book's copy is the one polls see; keep them in step
                    yield item
                ended = True
            finally:
                if not ended:
                    ray.cancel(stream)
        finally:
            self.watchers.close(execution_id, user)

    async def close(self) -> None:
        for settling in list(self._settling):
            settling.cancel()


def service_of(request: Request) -> Service:
    """The replica's Service (a FastAPI dependency): ``create_app`` puts it on the app's state."""
    service: Service = request.app.state.service
    return service
