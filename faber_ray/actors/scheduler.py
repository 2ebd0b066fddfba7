"""``Scheduler``: owns the queue and hands tasks to free worker slots.

It dispatches only into free slots, so nothing piles up in actor mailboxes;
a batch bigger than the queue waits for room instead of being dropped. Every
accepted task ends in exactly one result: its own, ``CANCELLED``, or
``ERROR`` naming the fault once infrastructure retries are used up.

Every decision is local and a few dict operations per task: the fair queue
picks the next task (priority, then the user furthest below its weighted
share, see ``scheduling/fairqueue.py``), the one ledger of memory and pids
(``scheduling/ledger.py``) admits it, the placement picks a worker with a
permit. No other actor is asked: the Monitor only aggregates usage, so losing
it changes no admission. Ray calls are batched, because they, not the
sandboxes, are the limit at hundreds of tasks a second: one ``assign`` per
worker per dispatch round, results back in batches, stored in the collector
in batches (whatever finished while the last batch was on its way). A result
still reaches the collector before its ref resolves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import ray
from ray.exceptions import RayError

from faber_ray.actors import metrics
from faber_ray.actors.delivery import ResultDelivery
from faber_ray.frozen import Ended, Frozen, thawing
from faber_ray.actors.options import ActorNames
from faber_ray.actors.outbox import WorkerOutbox
from faber_ray.actors.pool import WorkerPool
from faber_ray.actors.dedupe import Dedupe
from faber_ray.actors.views import SchedulerViews
from faber_ray.config import ExecutorConfig
from faber_ray.errors import ResourceLimitError, SandboxError, short_error
from faber_ray.models import Task, TaskResult, TaskStatus
from faber_ray.sandbox.engine import missing_image
from faber_ray.scheduling.ledger import CapacityLedger, Need
from faber_ray.scheduling.fairqueue import FairQueue, QueuedTask
from faber_ray.scheduling.flights import Flights
from faber_ray.scheduling.lifecycle import CancelAction, ExecutionBook, Phase, Record, owned_by
from faber_ray.scheduling.phases import PhaseClock, PhaseStamps
from faber_ray.scheduling.placement import Placement
from faber_ray.scheduling.users import UserCounts, user_key
from faber_ray.scheduling.waitingroom import WaitingRoom

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)

BY_CANCEL = "cancelled by TaskExecutor.cancel"
BY_SHUTDOWN = "cancelled by TaskExecutor.shutdown"


@ray.remote
class Scheduler(SchedulerViews, Dedupe):
    def __init__(self, config: ExecutorConfig, names: ActorNames, monitor: Any | None, collector: Any) -> None:
        self._config = config
        self._names = names
        self._monitor = monitor if config.enable_monitoring else None
        self._collector = collector
        self._queue = FairQueue(config.queue_size, config.user_weights, config.max_running_per_user)
        self._users = UserCounts(config.user_weights)
        self._entry = WaitingRoom(self._queue, self._users, config.max_queued_per_user)
        self._placement = Placement(config.max_concurrent_tasks)
        self._ledger = CapacityLedger()  # the one ledger of memory and pids; admission happens here only
        self._book = ExecutionBook()
        self._pool = WorkerPool(
            config, names, self._placement, self._ledger, self._monitor,
            on_change=self._wake_dispatch, on_lost=self._worker_lost, spawn=self._spawn,
            scheduler=ray.get_runtime_context().current_actor,
        )
        self._futures: dict[str, asyncio.Future[Frozen[TaskResult]]] = {}
        self._stamps: dict[str, PhaseStamps] = {}
        self._phases = PhaseClock()
        self._delivery = ResultDelivery(collector, self._spawn, self._delivered, busy=lambda: self._placement.running > 0)
        self._touched: set[str] = set()  # nodes whose gauges are out of date
        self._flights = Flights()  # dedupe: one run per content key at a time
        self._cache_hits = 0
        self._outbox = WorkerOutbox(self._pool.handle, self._spawn, self._worker_lost)
        self._located: dict[str, asyncio.Event] = {}  # someone waits to learn where an execution runs
        self._closed = False
        self._room: asyncio.Condition | None = None
        self._wake: asyncio.Event | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # Lifecycle -----------------------------------------------------------------

    async def start(self) -> dict[str, Any]:
        """Start workers on every sandbox node, then the dispatch and membership loops."""
        self._room, self._wake = asyncio.Condition(), asyncio.Event()
        await self._pool.sync()
        if not len(self._pool):
            reasons = "; ".join(f"node {node[:8]}: {why}" for node, why in self._pool.failures().items())
            raise SandboxError(f"no node could start a SandboxWorker ({reasons or 'no alive node'})")
        self._spawn(self._dispatch_loop())
        self._spawn(self._pool.run_membership())
        return self.cluster()

    async def shutdown(self) -> int:
        """Cancel what is queued, stop what runs, remove every container; returns containers removed."""
        self._closed = True
        for execution_id in self._book.ids(Phase.WAITING) + self._book.ids(Phase.JOINED) + self._queue.ids():
            self._queue.remove(execution_id)
            self._book.cancel(execution_id, BY_SHUTDOWN)
            self._end_cancelled(execution_id, f"{BY_SHUTDOWN} while it was queued")
        await self._notify_room()
        for execution_id in self._book.ids(Phase.RUNNING):
            self._book.cancel(execution_id, BY_SHUTDOWN)
        removed = await self._pool.shutdown()  # each worker sends its last results before it answers
        for execution_id in self._book.ids(Phase.RUNNING):  # a worker that died meanwhile
            record = self._book.get(execution_id)
            if record is not None:
                self._end_run(record)
                self._finish(self._cancelled_result(record.item, f"{BY_SHUTDOWN} while it was running"))
        await self._delivery.drain()
        await asyncio.sleep(0)  # let the resolved result calls answer before this actor is killed
        for task in self._background:
            task.cancel()
        return removed

    def _wake_dispatch(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _spawn(self, coroutine: Any, name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # Admission -----------------------------------------------------------------

    async def check(self, needs: list[Need], images: list[str]) -> None:
        """Refuse a batch with a task that can never run: its memory exceeds every node's
        sandbox capacity, or its image is on no sandbox node. (Its pids need never refuses it: the
        ledger clips it to a node's whole budget.)"""
        largest = self._ledger.largest_memory()
        for index, need in enumerate(needs):
            if need.memory > largest:
                raise ResourceLimitError(
                    f"{need.memory} bytes of memory (its sandboxes at once: the program's and any custom checker's "
                    f"or interactor's) can never fit: the largest node offers sandboxes {largest}",
                    task_index=index,
                    field="limits.memory",
                )
        for image in dict.fromkeys(images):
            if not await self._pool.image_anywhere(image):
                raise SandboxError(missing_image(image), task_index=images.index(image), field="image")

    def room(self, user: str | None = None) -> tuple[int, int | None]:
        """Tasks the queue takes now without anyone waiting (``wait_for_room=False``): in total, and for
        ``user`` under ``max_queued_per_user`` (None without a quota)."""
        return self._entry.room(user_key(user))

    async def enqueue(
        self, items: list[tuple[str, Frozen[Task], Need, str, str | None]], user: str | None = None, priority: int = 0
    ) -> None:
        """Queue ``(execution_id, frozen task, need, image, content key)`` items in order, waiting for room
        as needed (room in the queue, and under ``user``'s quota: one user's full quota never holds up
        another's tasks). With a content key (dedupe), a task whose twin ran already gets that result,
        and one whose twin is queued or running joins it."""
        assert self._room is not None and self._wake is not None
        key = user_key(user)
        if user is not None:
            log.info("user %s submitted %d task(s): %s", user, len(items), ", ".join(item[0] for item in items[:5]))
        for execution_id, *_ in items:
            self._future(execution_id)  # before any await: a ref asked for meanwhile finds its future
        contents = {item[4] for item in items if item[4] is not None and self._flights.leader_of(item[4]) is None}
        done: dict[str, tuple[str, Frozen[TaskResult]]] = (
            await self._collector.find.remote(sorted(contents)) if contents else {}
        )
        # The whole batch is accepted (counted, listed, cancellable) at once, not
        # only the task at the head of the wait for room.
        for execution_id, task, need, image, content in items:
            self._stamps[execution_id] = PhaseStamps(enqueued=time.monotonic())
            item = QueuedTask(execution_id, task, need, user, priority=priority, image=image, key=content)
            early = self._book.accept(item)
            self._users.wait(key)
            if early is not None or self._closed:
                reason = early or BY_SHUTDOWN
                self._end_cancelled(execution_id, f"{reason} while it was queued")
            elif content is not None:
                self._dedupe(item, done.get(content))
        for execution_id, *_ in items:
            if not self._waiting(execution_id):
                continue
            if not self._entry.may_enter(key):
                async with self._room:
                    self._entry.arrive(key)
                    try:
                        await self._room.wait_for(
                            lambda: self._entry.may_enter(key) or self._closed or not self._waiting(execution_id)
                        )
                    finally:
                        self._entry.leave(key)
            record = self._book.get(execution_id)
            if record is None or record.phase is not Phase.WAITING:  # cancelled, or shut down, while it waited
                continue
            self._book.queue(execution_id)
            self._users.entered(key)
            self._queue.push(record.item)
            self._wake.set()
            if self._entry.anyone_waiting and self._queue.has_room():
                await self._notify_room()  # who has the fewest queued now may have changed
        metrics.queue_depth(len(self._queue))

    def _waiting(self, execution_id: str) -> bool:
        record = self._book.get(execution_id)
        return record is not None and record.phase is Phase.WAITING

    async def result(self, execution_id: str) -> TaskResult:
        """Resolve when ``execution_id`` ends; the refs of these calls are the execution handles (the
        caller's ``ray.get`` unpickles the result; this actor never does)."""
        try:
            return thawing(await self._future(execution_id))
        finally:
            self._futures.pop(execution_id, None)

    async def locate(self, execution_id: str, user: str | None = None) -> str | None:
        """The worker holding ``execution_id``, waiting for it to be handed out; None once it has ended
        (or if it is not ``user``'s)."""
        while True:
            record = self._book.get(execution_id)
            if record is not None and not owned_by(record.item.user, user):
                return None
            if record is None or record.phase is Phase.DELIVERING:
                if execution_id not in self._futures:
                    return None
            elif record.phase is Phase.RUNNING:
                return record.worker
            event = self._located.setdefault(execution_id, asyncio.Event())
            await event.wait()

    def _moved(self, execution_id: str) -> None:
        event = self._located.pop(execution_id, None)
        if event is not None:
            event.set()

    async def final(self, execution_id: str, user: str | None = None) -> TaskResult | None:
        """The result of ``execution_id`` once it exists (None if it is unknown, not cached, or not ``user``'s)."""
        future = self._futures.get(execution_id)
        record = self._book.get(execution_id)
        # In the book, the record says whose it is; past it, the collector keeps the owner with the result.
        if future is not None and (owned_by(record.item.user, user) if record is not None else user is None):
            return thawing(await asyncio.shield(future))
        cached: Frozen[TaskResult] | None = await self._collector.get.remote(execution_id, user)
        return thawing(cached) if cached is not None else None

    async def gather(self, execution_ids: list[str]) -> list[Frozen[TaskResult]]:
        """Every result of a batch, in order, in one answer (what ``execute`` waits for), as bytes."""
        try:
            return list(await asyncio.gather(*(self._future(execution_id) for execution_id in execution_ids)))
        finally:
            for execution_id in execution_ids:
                self._futures.pop(execution_id, None)

    async def cancel(self, execution_id: str, reason: str = BY_CANCEL, user: str | None = None) -> bool:
        """Queued: never starts. Running: killed. Either way the result is CANCELLED. Another ``user``'s
        execution is left alone (False, as for an unknown id)."""
        action = self._book.cancel(execution_id, reason, user)
        if action is CancelAction.END_NOW:
            self._queue.remove(execution_id)
            self._end_cancelled(execution_id, f"{reason} while it was queued")
            await self._notify_room()
            return True
        if action is CancelAction.KILL:
            record = self._book.get(execution_id)
            handle = self._pool.handle(record.worker) if record and record.worker else None
            if handle is not None:
                try:
                    await handle.cancel.remote(execution_id, reason)
                except RayError:
                    pass  # the worker died; the retry path sees the cancel mark
            return True
        return action is CancelAction.REMEMBER

    # Dispatch ------------------------------------------------------------------

    def _future(self, execution_id: str) -> asyncio.Future[Frozen[TaskResult]]:
        future = self._futures.get(execution_id)
        if future is None:
            future = self._futures[execution_id] = asyncio.get_running_loop().create_future()
            self._book.expect(execution_id)
        return future

    async def _notify_room(self) -> None:
        if self._room is None:  # shut down before it started: nobody can be waiting
            return
        async with self._room:
            self._room.notify_all()

    async def _dispatch_loop(self) -> None:
        assert self._wake is not None
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._dispatch_ready()
            except Exception:  # noqa: BLE001 - the loop must survive any one bad step
                log.exception("dispatch step failed")

    async def _dispatch_ready(self) -> None:
        """Fill free slots: the fair queue picks, the ledger admits, the placement picks a worker; then
        one ``assign`` call per worker for the whole round."""
        dispatched: dict[str, list[tuple[str, Task | Frozen[Task], int]]] = {}
        while len(self._queue) and not self._closed:
            plans = self._placement.plan(len(self._queue))
            placed, blocked = 0, False
            for nodes in plans:
                item = self._queue.pop(self._users.dispatched)
                if item is None:  # every user with queued tasks is at max_running_per_user
                    blocked = True
                    break
                node = self._ledger.reserve(item.execution_id, item.need, nodes)
                worker = self._placement.worker_for(node) if node is not None else None
                if node is None or worker is None:  # fits nowhere now (wait for a release), or the plan went stale
                    if node is not None:
                        self._ledger.release(item.execution_id)
                    self._queue.push_front(item)
                    blocked = node is None
                    break
                self._start(item, worker, node)
                dispatched.setdefault(worker, []).append((item.execution_id, item.task, item.attempts))
                placed += 1
            if blocked or not placed:
                break
        for worker, batch in dispatched.items():
            self._outbox.send(worker, batch)
        self._flush_gauges()
        if dispatched:
            await self._notify_room()
        metrics.queue_depth(len(self._queue))

    def _start(self, item: QueuedTask, worker: str, node: str) -> None:
        item.attempts += 1
        self._placement.assign(worker, item.execution_id)
        self._book.start(item.execution_id, worker)
        self._users.dispatch(user_key(item.user))
        self._moved(item.execution_id)
        self._stamps[item.execution_id].dispatched = time.monotonic()
        self._touched.add(node)

    def _end_run(self, record: Record) -> str | None:
        """The one release of a dispatched task (it ended, or its worker was lost): its permit, its
        reservation, its user's count. Returns its node."""
        execution_id = record.item.execution_id
        worker = self._placement.release(execution_id)
        self._ledger.release(execution_id)
        self._users.undispatch(user_key(record.item.user))
        node = self._pool.node_of(worker) if worker is not None else ""
        if node:
            self._touched.add(node)
        return node

    def _flush_gauges(self) -> None:
        """The per-node gauges, once per dispatch round or batch of results, not once per task."""
        for node in self._touched:
            metrics.running_on_node(node, self._placement.running_on(node))
            metrics.node_memory_reserved(node, self._ledger.reserved(node).memory)
        self._touched.clear()

    async def finished(self, batch: list[tuple[str, int, float, Ended]]) -> None:
        """Results a worker sends back in batches: ``(worker, attempt, busy seconds, result)``."""
        now = time.monotonic()
        for worker, attempt, busy, result in batch:
            execution_id = result.execution_id
            record = self._book.get(execution_id)
            if record is None or record.phase is not Phase.RUNNING or record.worker != worker:
                continue  # its worker was given up for lost and the task retried: this answer is stale
            if record.item.attempts != attempt:
                continue
            stamps = self._stamps[execution_id]
            stamps.returned, stamps.worker_busy = now, busy
            stamps.sandbox = result.startup_time + result.wall_time
            self._end_run(record)
            # Counted here, on the head, not by the worker: a worker's counts die with it, unexported.
            metrics.task_finished(result.status, result.node_id, result.wall_time, result.startup_time)
            self._finish(result)
        self._wake_dispatch()

    def _worker_lost(self, worker: str, error: BaseException) -> None:
        """The pool gave ``worker`` up: each task it had is retried, or ends saying why."""
        self._outbox.drop(worker)  # not sent yet: retried with the rest, never sent to a successor
        node = self._pool.node_of(worker)
        for execution_id in self._book.running_on(worker):
            record = self._book.get(execution_id)
            assert record is not None
            self._end_run(record)
            self._stamps[execution_id].returned = time.monotonic()
            result = self._after_fault(record.item, worker, node, error)
            if result is not None:
                self._finish(result)
        self._wake_dispatch()

    def _after_fault(self, item: QueuedTask, worker: str, node: str, error: BaseException) -> Ended | None:
        """Retry a task lost to an infrastructure fault, or end it with a result that says why."""
        record = self._book.get(item.execution_id)
        if record is not None and record.cancel_reason:
            return self._cancelled_result(item, f"{record.cancel_reason} while it was running")
        cause = f"worker {worker} on node {node[:8]} was lost ({short_error(error)})"
        if item.attempts <= self._config.max_infra_retries:
            log.warning("%s; retrying task %s", cause, item.execution_id)
            metrics.infra_retry(node)
            self._book.queue(item.execution_id)
            self._queue.push_front(item)
            return None
        retries = self._config.max_infra_retries
        return self._ended(item, TaskStatus.ERROR, f"{cause}; no infrastructure retries left ({retries} allowed)", node)

    # Delivery ------------------------------------------------------------------

    def _end_cancelled(self, execution_id: str, reason: str) -> None:
        record = self._book.get(execution_id)
        if record is not None:
            self._finish(self._cancelled_result(record.item, reason))

    def _finish(self, result: Ended) -> None:
        record = self._book.get(result.execution_id)
        if record is not None:
            key = user_key(record.item.user)
            if record.phase is Phase.WAITING:
                self._users.entered(key)
            self._users.finish(key)
            if record.item.key is not None and record.phase is not Phase.DELIVERING:
                self._landed(record.item, result)
        self._book.finish(result.execution_id)
        self._moved(result.execution_id)
        self._delivery.add(
            result, record.item.user if record is not None else None, record.item.key if record is not None else None
        )

    def _delivered(self, result: Ended, now: float, problem: str | None = None) -> None:
        """The collector has ``result``: resolve its ref (saying so in ``error`` if it could not be kept)."""
        if problem is not None:
            whole = result.result.thaw()
            note = f"the result could not be kept for get_result: {problem}"
            whole.error = f"{whole.error}; {note}" if whole.error else note
            result = result._replace(result=Frozen.of(whole))
        self._book.delivered(result.execution_id)
        stamps = self._stamps.pop(result.execution_id, None)
        if stamps is not None:
            self._phases.record(stamps, now)
        future = self._futures.get(result.execution_id)
        if future is not None and not future.done():
            future.set_result(result.result)

    def _cancelled_result(self, item: QueuedTask, reason: str) -> Ended:
        return self._ended(item, TaskStatus.CANCELLED, reason)

    def _ended(self, item: QueuedTask, status: TaskStatus, reason: str, node: str = "") -> Ended:
        """A result this Scheduler makes itself (cancelled, or lost to faults): rare, so made whole."""
        result = Ended.of(
            item.ended(status, reason, image=self._config.default_image, sandbox=self._config.sandbox_mode, node=node)
        )
        metrics.task_finished(result.status, result.node_id, result.wall_time, result.startup_time)
        return result
