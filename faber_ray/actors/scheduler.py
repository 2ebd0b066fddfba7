"""``Scheduler``: owns the queue and hands tasks to free worker slots.

It dispatches only into free slots, so nothing piles up in actor mailboxes;
a batch bigger than the queue waits for room instead of being dropped. Every
accepted task ends in exactly one result: its own, ``CANCELLED``, or
``ERROR`` naming the fault once infrastructure retries are used up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError

from faber_ray import metrics
from faber_ray.actors.options import ActorNames
from faber_ray.actors.pool import WorkerPool, short_error
from faber_ray.config import ExecutorConfig
from faber_ray.errors import ResourceLimitError, SandboxError
from faber_ray.models import Task, TaskResult, TaskStatus
from faber_ray.scheduling.ledger import CapacityLedger
from faber_ray.scheduling.placement import Placement
from faber_ray.scheduling.queue import QueuedTask, TaskQueue

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)

@ray.remote
class Scheduler:
    def __init__(self, config: ExecutorConfig, names: ActorNames, monitor: Any | None, collector: Any) -> None:
        self._config = config
        self._names = names
        self._monitor = monitor if config.enable_monitoring else None
        self._collector = collector
        self._queue = TaskQueue(config.queue_size)
        self._placement = Placement(config.max_concurrent_tasks)
        self._ledger = CapacityLedger()  # capacities always; reservations when there is no Monitor
        self._pool = WorkerPool(
            config, names, self._placement, self._ledger, self._monitor,
            on_change=self._wake_dispatch, spawn=self._spawn,
        )
        self._futures: dict[str, asyncio.Future[TaskResult]] = {}
        self._inflight: dict[str, QueuedTask] = {}
        self._cancelled: set[str] = set()
        self._delivering: set[str] = set()  # finished, result on its way to the collector
        self._waiting: dict[str, QueuedTask] = {}  # accepted, waiting for room in the queue, in order
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
        for item in self._queue.drain() + list(self._waiting.values()):
            self._finish(self._cancelled_result(item, "the executor was shut down before the task started"))
        self._waiting.clear()
        await self._notify_room()
        for execution_id in list(self._inflight):
            self._cancelled.add(execution_id)
        removed = await self._pool.shutdown()
        runs = [task for task in self._background if task.get_name().startswith("run-")]
        await asyncio.gather(*runs, return_exceptions=True)
        deliveries = [task for task in self._background if task.get_name().startswith("deliver-")]
        await asyncio.gather(*deliveries, return_exceptions=True)
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

    def check(self, memories: list[int]) -> None:
        """Refuse a batch whose task can never fit: its memory exceeds every node's sandbox capacity."""
        largest = self._ledger.largest_capacity()
        for index, memory in enumerate(memories):
            if memory > largest:
                raise ResourceLimitError(
                    f"{memory} bytes of memory can never fit: the largest node offers sandboxes {largest}",
                    task_index=index,
                    field="limits.memory",
                )

    async def enqueue(self, items: list[tuple[str, Task, int]]) -> None:
        """Queue ``(execution_id, task, memory)`` items in order, waiting for room as needed."""
        assert self._room is not None and self._wake is not None
        # The whole batch is queued (counted, listed, cancellable) at once, not
        # only the task at the head of the wait for room.
        for execution_id, task, memory in items:
            self._future(execution_id)
            item = QueuedTask(execution_id, task, memory)
            if execution_id in self._cancelled or self._closed:  # cancelled before this call arrived
                reason = None if execution_id in self._cancelled else "the executor was shut down"
                self._finish(self._cancelled_result(item, reason))
            else:
                self._waiting[execution_id] = item
        for execution_id, _, _ in items:
            if execution_id not in self._waiting:
                continue
            async with self._room:
                await self._room.wait_for(
                    lambda: self._queue.has_room() or self._closed or execution_id not in self._waiting
                )
            admitted = self._waiting.pop(execution_id, None)
            if admitted is None:  # cancelled, or shut down, while it waited: already finished
                continue
            self._queue.push(admitted)
            self._wake.set()
        metrics.queue_depth(len(self._queue))

    async def result(self, execution_id: str) -> TaskResult:
        """Resolve when ``execution_id`` ends; the refs of these calls are the execution handles."""
        try:
            return await self._future(execution_id)
        finally:
            self._futures.pop(execution_id, None)

    async def cancel(self, execution_id: str) -> bool:
        """Queued: never starts. Running: killed. Either way the result is CANCELLED."""
        item = self._queue.remove(execution_id)
        if item is None:
            item = self._waiting.pop(execution_id, None)
        if item is not None:  # queued, or waiting for room in the queue
            self._finish(self._cancelled_result(item))
            await self._notify_room()
            return True
        if execution_id in self._inflight:
            self._cancelled.add(execution_id)
            worker = self._placement.worker_of(execution_id)
            handle = self._pool.handle(worker) if worker else None
            if handle is not None:
                try:
                    await handle.cancel.remote(execution_id)
                except RayError:
                    pass  # the worker died; the retry path sees the cancel mark
            return True
        if execution_id in self._futures and execution_id not in self._delivering:  # enqueue not arrived yet
            self._cancelled.add(execution_id)
            return True
        return False

    # Dispatch ------------------------------------------------------------------

    def _future(self, execution_id: str) -> asyncio.Future[TaskResult]:
        future = self._futures.get(execution_id)
        if future is None:
            future = self._futures[execution_id] = asyncio.get_running_loop().create_future()
        return future

    async def _notify_room(self) -> None:
        assert self._room is not None
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
        while len(self._queue) and not self._closed:
            nodes = self._placement.preferred_nodes()
            item = self._queue.peek()
            if not nodes or item is None:
                return
            node = await self._reserve(item, nodes)
            if node is None:
                return  # fits somewhere, but not now: wait for a release
            worker = self._placement.worker_for(node)
            if self._queue.peek() is not item or worker is None:
                self._release(item.execution_id)  # changed while we waited on the Monitor
                continue
            self._queue.pop()
            item.attempts += 1
            self._placement.assign(worker, item.execution_id)
            self._inflight[item.execution_id] = item
            self._spawn(self._run(item, worker, node), name=f"run-{item.execution_id}")
            metrics.running_on_node(node, self._placement.running_on(node))
            await self._notify_room()
        metrics.queue_depth(len(self._queue))

    async def _reserve(self, item: QueuedTask, nodes: list[str]) -> str | None:
        if self._monitor is not None:
            try:
                return await self._monitor.admit.remote(item.execution_id, item.memory, nodes)
            except RayError as error:
                log.error("Monitor unreachable (%s); admitting from the local ledger", short_error(error))
                self._monitor = self._pool.monitor = None
        return self._ledger.reserve(item.execution_id, item.memory, nodes)

    def _release(self, execution_id: str) -> None:
        if self._monitor is not None:
            self._monitor.release.remote(execution_id)
        else:
            self._ledger.release(execution_id)

    async def _run(self, item: QueuedTask, worker: str, node: str) -> None:
        execution_id = item.execution_id
        result: TaskResult | None = None
        try:
            handle = self._pool.handle(worker)
            if handle is None:
                raise KeyError(worker)  # forgotten since dispatch: its node was lost
            result = await handle.run.remote(execution_id, item.task, item.attempts)
        except RayTaskError as error:  # the worker's own code failed: not a fault to retry
            result = self._error_result(item, node, f"the worker failed while running the task: {short_error(error)}")
        except (RayError, KeyError) as error:
            self._pool.lost(worker, error)
            result = self._after_fault(item, worker, node, error)
        finally:
            self._placement.release(execution_id)
            self._inflight.pop(execution_id, None)
            self._release(execution_id)
            metrics.running_on_node(node, self._placement.running_on(node))
            assert self._wake is not None
            self._wake.set()
        if result is not None:
            self._finish(result)

    def _after_fault(self, item: QueuedTask, worker: str, node: str, error: BaseException) -> TaskResult | None:
        """Retry a task lost to an infrastructure fault, or end it with a result that says why."""
        if item.execution_id in self._cancelled:
            return self._cancelled_result(item)
        cause = f"worker {worker} on node {node[:8]} was lost ({short_error(error)})"
        if item.attempts <= self._config.max_infra_retries:
            log.warning("%s; retrying task %s", cause, item.execution_id)
            metrics.infra_retry(node)
            self._queue.push_front(item)
            return None
        return self._error_result(
            item, node, f"{cause}; no infrastructure retries left ({self._config.max_infra_retries} allowed)"
        )

    def _finish(self, result: TaskResult) -> None:
        self._cancelled.discard(result.execution_id)
        self._delivering.add(result.execution_id)
        usage = result.resource_usage
        metrics.task_finished(result.status.value, result.node_id, usage.wall_time, usage.startup_time)
        self._spawn(self._deliver(result), name=f"deliver-{result.execution_id}")

    async def _deliver(self, result: TaskResult) -> None:
        """Store the result, then resolve its ref: whoever holds a result can also
        find it with ``get_result`` and see it counted in ``stats``."""
        try:
            await self._collector.add.remote(result)
        except RayError as error:
            log.error("ResultCollector unreachable (%s); result %s is not cached", short_error(error), result.execution_id)
        self._delivering.discard(result.execution_id)
        future = self._futures.get(result.execution_id)
        if future is not None and not future.done():
            future.set_result(result)

    def _cancelled_result(self, item: QueuedTask, reason: str | None = None) -> TaskResult:
        return TaskResult(
            execution_id=item.execution_id,
            status=TaskStatus.CANCELLED,
            error=reason,
            image=item.task.image or self._config.default_image,
            attempts=item.attempts,
        )

    def _error_result(self, item: QueuedTask, node: str, error: str) -> TaskResult:
        return TaskResult(
            execution_id=item.execution_id,
            status=TaskStatus.ERROR,
            error=error,
            node_id=node,
            image=item.task.image or self._config.default_image,
            attempts=item.attempts,
        )

    # Views ---------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return {"queued": len(self._queue) + len(self._waiting), "running": self._placement.running}

    def pending(self) -> dict[str, list[str]]:
        """Execution ids not finished yet: queued (in dispatch order, then those waiting for room) and running."""
        return {"queued": [*self._queue.ids(), *self._waiting], "running": list(self._inflight)}

    def cluster(self) -> dict[str, Any]:
        nodes: dict[str, Any] = {}
        for worker in self._placement.workers():
            node = nodes.setdefault(
                worker.node_id,
                {"workers": [], "slots": 0, "slots_in_use": 0, "memory_capacity": self._ledger.capacity(worker.node_id)},
            )
            node["workers"].append({"name": worker.name, "slots": worker.slots, "running": len(worker.running)})
            node["slots"] += worker.slots
            node["slots_in_use"] += len(worker.running)
        return {"nodes": nodes, "unavailable_nodes": self._pool.failures(), **self.counts(), "max_concurrent_tasks": self._config.max_concurrent_tasks}
