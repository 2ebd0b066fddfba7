"""``SandboxWorker``: launches containers on its own node through the sandbox core."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import docker.errors
import ray

from faber_ray.actors.batching import Batcher
from faber_ray.actors.relay import RelayBook
from faber_ray.actors.options import NAMESPACE
from faber_ray.config import ExecutorConfig
from faber_ray.errors import short_error
from faber_ray.frozen import Ended, Frozen
from faber_ray.models import OutputChunk, Task, TaskResult
from faber_ray.sandbox.reaper import engine_is_local, list_sandboxes, maker_is_gone, reap_sandboxes
from faber_ray.sandbox.runner import SandboxRunner
from faber_ray.sandbox.spec import node_pid_budget
from faber_ray.scheduling.usage import UsageReport

__all__ = ["Finished", "SandboxWorker", "actor_is_alive"]

#: (worker, attempt, seconds the worker spent on it, the result as the control plane reads it)
Finished = tuple[str, int, float, Ended]
#: A task as the Scheduler hands it over: (execution id, the task, frozen by the executor, attempt).
Assigned = tuple[str, "Task | Frozen[Task]", int]

log = logging.getLogger(__name__)

#: A batch of results is sent this many times at most, waiting a little longer after each failure.
SEND_TRIES = 5
SEND_RETRY_DELAY = 0.2
#: How long results of a busy worker wait to be sent together.
BUSY_SEND_DELAY = 0.02
#: How long a batch's send waits to be taken before the next batch may go anyway.
SEND_TIMEOUT = 10.0


def actor_is_alive(name: str) -> bool:
    """Whether a named faber-ray actor exists (a dead one's name is released)."""
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return False
    return True


@ray.remote
class SandboxWorker:
    """An async actor whose slots are threads: each slot runs one blocking ``SandboxRunner.run`` at a time.

    Its calls (dispatch, cancel, permits, live output) run on its event loop and
    never block it: anything slow (the engine, Ray's GCS) goes to a thread. So a
    watcher of live output, which waits for as long as its task runs, holds no
    thread and never delays a dispatch or a cancel. It reserves no CPU (the
    sandboxes have their own limits) and is pinned to its node, because the
    containers it starts live on that node's engine.
    """

    def __init__(
        self, config: ExecutorConfig, name: str, monitor: Any | None = None, slots: int = 1, scheduler: Any = None
    ) -> None:
        self.name = name
        self.node_id = ray.get_runtime_context().get_node_id()
        # Permits can grow up to the whole cap when other workers go, so room is made for that many.
        capacity = max(slots, config.max_concurrent_tasks)
        self._runner = SandboxRunner(config, node_id=self.node_id, owner=name, capacity=capacity)
        # Up to ``permits`` tasks run at once (the Scheduler's share of the cluster-wide cap for this
        # worker); the rest of what it was given waits here, in order, and starts as a slot frees.
        self._permits = 0
        self._running = 0
        self._waiting: deque[Assigned] = deque()
        self._stopping = False  # set by shutdown: nothing more starts
        self._loop: asyncio.AbstractEventLoop | None = None  # this actor's event loop, once a call runs on it
        self._drained: asyncio.Event | None = None  # set_permits waits on it for running tasks to end
        self._lock = threading.Lock()
        self._relays = RelayBook()
        self._slots = ThreadPoolExecutor(capacity, thread_name_prefix="slot")
        self._stopped = asyncio.Event()
        # Results go back to the Scheduler in batches: whatever finished while the last batch was on its way.
        self._scheduler = scheduler
        self._results: Batcher[Finished] | None = (
            Batcher(self._send_results, max_items=1024, max_delay=BUSY_SEND_DELAY) if scheduler is not None else None
        )
        self._last_send: Any = None
        self._failing_sends = 0
        self._monitor = monitor if config.enable_monitoring else None
        # Usage reports go to the Monitor in batches, fire-and-forget.
        self._reports: Batcher[UsageReport] | None = (
            Batcher(monitor.report_many.remote) if self._monitor is not None and monitor is not None else None
        )
        self._config = config
        # A predecessor with this name, or any worker whose actor is gone, left
        # these running: nobody else will ever remove them.
        self.reaped_at_start = self._reap_orphans(include_predecessor=True)

    async def ready(self) -> dict[str, Any]:
        """Who and where this worker is, and how much memory its node offers sandboxes."""
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        capacity = self._config.node_sandbox_memory or int(total * 0.8)
        return {
            "name": self.name,
            "node_id": self.node_id,
            "memory_capacity": capacity,
            "pid_capacity": self._config.node_sandbox_pids or node_pid_budget(),
            "reaped_at_start": self.reaped_at_start,
            "pid": os.getpid(),
            "images": await asyncio.to_thread(self._images),
        }

    def _images(self) -> list[str]:
        """The image names this node's engine has (so a batch naming none of them is refused at once)."""
        return sorted(tag for image in self._runner.client.images.list() for tag in image.tags)

    async def has_image(self, name: str) -> bool:
        return await asyncio.to_thread(self._has_image, name)

    async def image_id(self, name: str) -> str | None:
        """The ID of image ``name`` on this node's engine (None if it has none): what dedupe keys on,
        so that a tag moved to a new build is a new key."""
        return await asyncio.to_thread(self._image_id, name)

    def _image_id(self, name: str) -> str | None:
        try:
            return str(self._runner.client.images.get(name).id)
        except docker.errors.DockerException:
            return None

    def _has_image(self, name: str) -> bool:
        try:
            self._runner.client.images.get(name)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.DockerException:
            return True  # the engine cannot say: leave it to the run, which reports it
        return True

    def _run(self, execution_id: str, task: Task | Frozen[Task], attempt: int = 1) -> tuple[TaskResult, float]:
        """Run one task; returns its result and how long this worker spent on it (for the cost breakdown)."""
        began = time.monotonic()
        relay = self._relays.get(execution_id) or self._relays.open(execution_id)
        try:
            # A frozen task is the executor's checked copy (validate_task, under this same config).
            checked = isinstance(task, Frozen)
            if isinstance(task, Frozen):
                task = task.thaw()
            result = self._runner.run(task, execution_id, listener=relay.add, checked=checked)
        finally:
            self._relays.close(execution_id)
        result.attempts = attempt
        if self._reports is not None:
            usage = result.resource_usage
            self._reports.add(
                UsageReport(
                    node_id=self.node_id,
                    worker=self.name,
                    execution_id=execution_id,
                    status=result.status.value,
                    wall_time=usage.wall_time,
                    cpu_time=usage.cpu_time,
                    peak_memory=usage.peak_memory,
                    running_on_worker=len(self._runner.running()),
                )
            )
        return result, time.monotonic() - began

    async def set_permits(self, permits: int) -> None:
        """How many tasks this worker may run at once (its share of max_concurrent_tasks). Answers once
        it runs no more than that, so that the pool gives the permits it took to other workers only
        when they are really free."""
        self._loop = asyncio.get_running_loop()
        with self._lock:
            self._permits = permits
        self._start_waiting()
        while True:
            with self._lock:
                if self._running <= self._permits:
                    return
                drained = self._drained = asyncio.Event()
            await drained.wait()

    async def assign(self, items: list[Assigned]) -> None:
        """Take tasks, in order; they start as permits allow and their results come back in batches."""
        for execution_id, _, _ in items:
            self._relays.open(execution_id)  # a watcher may come while it waits for a slot
        with self._lock:
            self._waiting.extend(items)
        self._start_waiting()

    def _start_waiting(self) -> None:
        with self._lock:
            ready = []
            while self._waiting and self._running < self._permits and not self._stopping:
                ready.append(self._waiting.popleft())
                self._running += 1
        for item in ready:
            self._slots.submit(self._run_and_send, *item)

    def _run_and_send(self, execution_id: str, task: Task | Frozen[Task], attempt: int, counted: bool = True) -> None:
        try:
            result, busy = self._run(execution_id, task, attempt)
            assert self._results is not None
            ended = Ended.of(result)
            with self._lock:
                # Alone, the result goes at once (latency); among others, it waits a little for company
                # (throughput: a call costs the Scheduler far more than one more result in it).
                alone = not self._waiting and self._running <= 1
            self._results.add((self.name, attempt, busy, ended), urgent=alone)
        finally:
            if counted:
                with self._lock:
                    self._running -= 1
                    drained, self._drained = self._drained, None
                if drained is not None and self._loop is not None:
                    self._loop.call_soon_threadsafe(drained.set)
                self._start_waiting()

    def _send_results(self, batch: list[Finished]) -> None:
        """Send a batch of results to the Scheduler and wait for it to be taken: one batch in flight at a
        time, so that while the Scheduler is busy the next batch gathers (the busier, the bigger the
        batches, and the fewer calls per task). A send that fails is logged and sent again, so that
        its tasks end as results instead of hanging; the Scheduler ignores a second copy."""
        assert self._scheduler is not None
        for tries in range(1, SEND_TRIES + 1):
            try:
                if self._failing_sends:
                    self._failing_sends -= 1
                    raise ConnectionError("a send made to fail by fail_sends()")
                self._last_send = self._scheduler.finished.remote(batch)
                # A future, not ray.get: this is an async actor, where ray.get warns even off its loop.
                self._last_send.future().result(timeout=SEND_TIMEOUT)
                return
            except concurrent.futures.TimeoutError:
                return  # still on its way to a busy Scheduler: it arrives; the next batch need not wait
            except Exception as error:  # noqa: BLE001 - whatever it was, the batch must still arrive
                if tries == SEND_TRIES:
                    log.error("%s gave up sending %d result(s) after %d tries: %s", self.name, len(batch),
                              SEND_TRIES, short_error(error))
                    return
                log.warning("%s could not send %d result(s) to the Scheduler (%s); sending them again",
                            self.name, len(batch), short_error(error))
                time.sleep(SEND_RETRY_DELAY * tries)  # a back-off between tries, not a poll

    async def fail_sends(self, count: int) -> None:
        """For fault tests: make the next ``count`` result sends fail as a lost call would."""
        self._failing_sends = count

    async def follow(self, execution_id: str) -> AsyncIterator[OutputChunk]:
        """A streaming generator: the output of a task held here, from its start, until its run ends.
        It holds no thread; cancelling it (``ray.cancel``) releases it at once."""
        relay = self._relays.get(execution_id)
        if relay is not None:
            async for chunk in relay.follow():
                yield chunk

    async def watchers(self) -> int:
        """Watchers following this worker's tasks now."""
        return self._relays.watchers()

    async def watch(self) -> None:
        """Returns only at shutdown: the Scheduler's one long call, which fails the moment this worker dies."""
        await self._stopped.wait()

    async def cancel(self, execution_id: str, reason: str = "cancelled by TaskExecutor.cancel") -> bool:
        """Cancel a task handed to this worker, whether or not its command has started.

        One still waiting here ends at once (CANCELLED, nothing started), without waiting for a permit.
        """
        with self._lock:
            waiting = next((item for item in self._waiting if item[0] == execution_id), None)
            if waiting is not None:
                self._waiting.remove(waiting)
        cancelled = self._runner.cancel(execution_id, before_start=True, reason=reason)
        if waiting is not None:
            threading.Thread(target=self._run_and_send, args=(*waiting, False), daemon=True).start()
        return cancelled

    async def running(self) -> list[str]:
        return self._runner.running()

    async def reap_orphans(self) -> int:
        """Remove containers whose maker is gone (see ``_reap_orphans``), off the event loop."""
        return await asyncio.to_thread(self._reap_orphans)

    def _reap_orphans(self, include_predecessor: bool = False) -> int:
        """Remove containers whose maker is gone: a process no longer alive on this machine (whatever
        Ray cluster, or CLI, it belonged to), or a worker actor of this cluster that no longer exists.

        At start (``include_predecessor``) that includes containers labelled with
        this worker's own name: they belong to a dead predecessor, since this
        worker has not started any yet.
        """

        # By actor: only this cluster's containers (alive or dead nodes); another live Ray
        # cluster may share the Docker engine, and its workers are not ours to judge.
        our_nodes = {node["NodeID"] for node in ray.nodes()}
        local = engine_is_local(self._runner.client)

        def orphaned(sandbox: dict[str, str]) -> bool:
            if local and maker_is_gone(sandbox):
                return True
            owner = sandbox["owner"]
            if not owner or sandbox["node_id"] not in our_nodes:
                return False
            if owner == self.name:
                return include_predecessor
            return not actor_is_alive(owner)

        removed = reap_sandboxes(self._runner.client, only=orphaned)
        if removed:
            log.warning("%s removed %d orphaned sandbox(es)", self.name, removed)
        return removed

    async def shutdown(self, grace: float = 30.0) -> int:
        """Cancel everything running here and remove every container of this worker, idle warm
        ones included; returns how many containers it had when shutdown began."""
        present = await asyncio.to_thread(self._shutdown, grace)
        self._stopped.set()
        return present

    def _shutdown(self, grace: float) -> int:
        mine = lambda sandbox: sandbox["owner"] == self.name  # noqa: E731
        present = sum(1 for sandbox in list_sandboxes(self._runner.client) if mine(sandbox))
        reason = "cancelled by TaskExecutor.shutdown"
        # What waits here for a permit never starts: a run started after the last reap
        # below would leave its container behind.
        with self._lock:
            self._stopping = True
            waiting, self._waiting = list(self._waiting), deque()
        for execution_id, task, attempt in waiting:
            self._runner.cancel(execution_id, before_start=True, reason=reason)
            self._run_and_send(execution_id, task, attempt, counted=False)
        self._runner.close()
        for execution_id in self._runner.running():
            self._runner.cancel(execution_id, reason=reason)
        self._runner.wait_idle(grace)
        self._runner.close()
        if self._results is not None:
            self._results.close(wait=True)
            if self._last_send is not None:  # calls arrive in order: once the last has, every result has
                concurrent.futures.wait([self._last_send.future()], timeout=grace)
        reap_sandboxes(self._runner.client, only=mine)
        return present
