"""``TaskExecutor``: the front door. It validates, hands batches to the Scheduler and answers queries.

Ownership: the refs that ``submit`` returns are created by the executor actor,
so the executor owns them. They stay valid for as long as the executor lives;
if it dies, ``ray.get`` on them raises ``OwnerDiedError``. That is why the
executor and the other control actors are pinned hard to the creating node
(the head node, for ``faber-ray start``), which no autoscaler removes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError

from faber_ray.actors import metrics
from faber_ray.actors.collector import ResultCollector
from faber_ray.actors.monitor import Monitor
from faber_ray.actors.options import NAMESPACE, ActorNames, control_options
from faber_ray.actors.scheduler import Scheduler
from faber_ray.config import ExecutorConfig
from faber_ray.frozen import Frozen, thawing
from faber_ray.errors import ExecutionError, ExecutorError, QueueFullError, TaskValidationError, unwrap_error
from faber_ray.models import ExecutionStatistics, OutputChunk, Task, TaskResult
from faber_ray.ids import new_execution_id
from faber_ray.scheduling.fairqueue import ANONYMOUS
from faber_ray.scheduling.flights import content_key
from faber_ray.scheduling.watchers import WatcherCaps
from faber_ray.sandbox.spec import task_memory, task_pids
from faber_ray.scheduling.ledger import Need
from faber_ray.validation import validate_batch

__all__ = ["TaskExecutor"]


async def _follow(worker: Any, execution_id: str) -> AsyncIterator[OutputChunk]:
    """The worker's live output of one task. If this watcher stops early (its own consumer went away and
    cancelled it), the worker's generator is cancelled too: Ray does not stop it when it is dropped."""
    stream = worker.follow.remote(execution_id)
    ended = False
    try:
        async for ref in stream:
            yield await ref
        ended = True
    except RayError:
        ended = True  # the worker was lost: the retry's output is not followed; its result still comes
    finally:
        if not ended:
            ray.cancel(stream)


def _prepare(
    tasks: list[Task | Mapping[str, Any]], config: ExecutorConfig
) -> tuple[list[Task], list[Frozen[Task]], list[Need]]:
    """Validate a batch (the one check a task gets: nothing downstream checks it again), pickle each
    task once, and say what each needs of a node."""
    checked = validate_batch(tasks, config)
    needs = [Need(task_memory(task, config), task_pids(task, config)) for task in checked]
    return checked, [Frozen.of(task) for task in checked], needs


@ray.remote
class TaskExecutor:
    """Creates and owns the Scheduler, Monitor and ResultCollector, all pinned to this node."""

    def __init__(self, config: ExecutorConfig | Mapping[str, Any] | None = None, tag: str | None = None) -> None:
        if config is None:
            config = ExecutorConfig()
        elif not isinstance(config, ExecutorConfig):
            config = ExecutorConfig.build(config)
        # The executor keeps no API token: the HTTP front door holds only their digests.
        self._config = config = config.without_secrets()
        self._names = ActorNames(uuid.uuid4().hex[:6] if tag is None else tag)
        node = ray.get_runtime_context().get_node_id()
        self._monitor = (
            Monitor.options(**control_options("monitor", self._names.monitor, node)).remote()  # type: ignore[attr-defined]
            if config.enable_monitoring
            else None
        )
        # (Ray's @ray.remote classes are not typed with .options.)
        collector_options = control_options("collector", self._names.collector, node)
        self._collector = ResultCollector.options(**collector_options).remote(  # type: ignore[attr-defined]
            config.result_cache_size, config.result_cache_bytes, config.result_store, config.result_retention_seconds
        )
        scheduler_options = control_options("scheduler", self._names.scheduler, node)
        self._scheduler = Scheduler.options(**scheduler_options).remote(  # type: ignore[attr-defined]
            config, self._names, self._monitor, self._collector
        )
        self._started = self._scheduler.start.remote()
        self._store_checked = self._collector.ready.remote()  # a result_store it cannot use refuses every call
        self._watchers = WatcherCaps()

    async def _ready(self) -> None:
        try:
            await self._store_checked
            await self._started
        except RayTaskError as error:
            raise unwrap_error(error) from None

    async def _accept(
        self, tasks: list[Task | Mapping[str, Any]], wait_for_room: bool = True, user: str | None = None,
        priority: int = 0,
    ) -> list[tuple[str, Frozen[Task], Need, str, str | None]]:
        """Validate and admit a whole batch, or refuse it whole: ``(execution id, task, need, image)``
        items, each task pickled once here, so the Scheduler passes it on as bytes."""
        await self._ready()
        try:
            if isinstance(priority, bool) or not isinstance(priority, int) or not -(2**31) <= priority < 2**31:
                raise TaskValidationError(f"priority must be a whole number in [-2^31, 2^31), not {priority!r}",
                                          field="priority")
            # In a thread: checking a large batch must not hold up other callers of this actor.
            checked, frozen, needs = await asyncio.to_thread(_prepare, tasks, self._config)
            if not wait_for_room:
                room, user_room = await self._scheduler.room.remote(user)
                if user_room is not None and len(checked) > user_room:
                    raise QueueFullError(
                        f"the queue is full for user {user or ANONYMOUS!r}: max_queued_per_user is "
                        f"{self._config.max_queued_per_user}, and it takes {max(user_room, 0)} more of that "
                        f"user's task(s) now, the batch has {len(checked)}"
                    )
                if len(checked) > room:
                    raise QueueFullError(
                        f"the queue is full: it takes {max(room, 0)} more task(s) now, the batch has {len(checked)}"
                    )
            images = [task.image or self._config.default_image for task in checked]
            await self._scheduler.check.remote(needs, images)
            keys = await self._content_keys(checked, images)
        except ExecutorError as error:
            metrics.tasks_refused(len(tasks) if hasattr(tasks, "__len__") else 1, type(error).__name__)
            raise
        except RayTaskError as error:
            cause = unwrap_error(error)
            metrics.tasks_refused(len(tasks), type(cause).__name__)
            raise cause from None
        metrics.tasks_submitted(len(checked))
        self._collector.mark_submitted.remote()
        return [
            (new_execution_id(), blob, need, task.image or "", key)
            for task, blob, need, key in zip(checked, frozen, needs, keys)
        ]

    async def _content_keys(self, tasks: list[Task], images: list[str]) -> list[str | None]:
        """Each task's content key if it is deduplicated (its own ``dedupe``, else the config's), else None."""
        wanted = [task.dedupe if task.dedupe is not None else self._config.dedupe for task in tasks]
        if not any(wanted):
            return [None] * len(tasks)
        names = sorted({image for image, on in zip(images, wanted) if on})
        ids = dict(zip(names, await self._scheduler.image_ids.remote(names)))
        return [
            content_key(task, ids[image] or image) if on else None for task, image, on in zip(tasks, images, wanted)
        ]

    async def submit(
        self, tasks: list[Task | Mapping[str, Any]], user: str | None = None, priority: int = 0
    ) -> list[ray.ObjectRef]:
        """Queue ``tasks`` and return at once: one ref per task, resolving to its TaskResult."""
        return (await self.submit_with_ids(tasks, user, priority=priority))[1]

    async def submit_with_ids(
        self, tasks: list[Task | Mapping[str, Any]], user: str | None = None, wait_for_room: bool = True,
        priority: int = 0,
    ) -> tuple[list[str], list[ray.ObjectRef]]:
        """``submit``, also giving each task's execution id (what ``cancel`` and ``get_result`` take).

        ``user`` owns the tasks and shares the slots fairly with other users (no user: "anonymous");
        a higher ``priority`` is dispatched first. With ``wait_for_room=False`` a batch the queue (or
        the user's ``max_queued_per_user``) cannot take at once is refused with ``QueueFullError``
        instead of waiting for room.
        """
        items = await self._accept(tasks, wait_for_room, user, priority)
        ids = [item[0] for item in items]
        refs = [self._scheduler.result.remote(execution_id) for execution_id in ids]
        self._scheduler.enqueue.remote(items, user, priority)
        return ids, refs

    async def execute(
        self, tasks: list[Task | Mapping[str, Any]], user: str | None = None, priority: int = 0
    ) -> list[TaskResult]:
        """Run ``tasks`` and return their results in input order (one wait for the whole batch)."""
        items = await self._accept(tasks, user=user, priority=priority)
        ids = [item[0] for item in items]
        results = self._scheduler.gather.remote(ids)
        self._scheduler.enqueue.remote(items, user, priority)
        frozen: list[Frozen[TaskResult]] = await results
        return [thawing(result) for result in frozen]  # unpickled by the caller, not here

    async def watch(self, execution_id: str, user: str | None = None) -> AsyncIterator[OutputChunk | TaskResult]:
        """A streaming generator: the task's output as it is written (from its start, if it is still
        running), then its ``TaskResult``. An execution that already ended gives its result alone.
        With ``user``, another user's execution is unknown (an ``ExecutionError``), as everywhere."""
        await self._ready()
        self._watchers.open(execution_id, user)  # QueueFullError past a cap
        try:
            worker = await self._scheduler.locate.remote(execution_id, user)
            if worker is not None:
                async for chunk in _follow(ray.get_actor(worker, namespace=NAMESPACE), execution_id):
                    yield chunk
            result = await self._scheduler.final.remote(execution_id, user)
            if result is None:
                raise ExecutionError(f"no execution {execution_id} is known (or its result left the cache)")
            yield result
        finally:
            self._watchers.close(execution_id, user)

    async def stream(
        self, task: Task | Mapping[str, Any], user: str | None = None, priority: int = 0
    ) -> AsyncIterator[OutputChunk | TaskResult]:
        """Run one task and stream it: ``OutputChunk`` objects as the task writes them, then its ``TaskResult``."""
        ids, _ = await self.submit_with_ids([task], user, priority=priority)
        async for item in self.watch(ids[0], user):
            yield item

    async def get_result(self, execution_id: str, user: str | None = None) -> TaskResult | None:
        """A finished result from the cache; None if unknown or evicted, or not ``user``'s when one is given.

        ``user`` (here, in ``cancel``, ``pending`` and ``watch``) narrows the view to that user's own
        tasks, as the HTTP API does for every token; without it the caller sees the whole cluster.
        """
        frozen: Frozen[TaskResult] | None = await self._collector.get.remote(execution_id, user)
        return thawing(frozen) if frozen is not None else None

    async def keep_notes(self, notes: list[tuple[str, str | None, bytes]]) -> None:
        """Keep ``(execution id, owner, bytes)`` with the results in ``result_store`` (a front end's record
        of what it submitted, so that it can answer after a restart); nothing without a store."""
        self._collector.keep_notes.remote(notes)

    async def note(self, execution_id: str, user: str | None = None) -> bytes | None:
        """A note kept with ``keep_notes``; None if unknown, expired, or not ``user``'s."""
        found: bytes | None = await self._collector.note.remote(execution_id, user)
        return found

    async def cancel(self, execution_id: str, user: str | None = None) -> bool:
        """Cancel a queued or running task: True if it will end CANCELLED; False if it has finished, is
        unknown, or is not ``user``'s."""
        await self._ready()
        return await self._scheduler.cancel.remote(execution_id, user=user)

    async def images_present(self, images: list[str]) -> list[bool]:
        """For each image name, whether some sandbox node has it, so that a task naming it can be admitted
        (the HTTP API lists only the Judge0 languages whose image is there)."""
        await self._ready()
        present: list[bool] = await self._scheduler.images_present.remote(list(images))
        return present

    async def pending(self, user: str | None = None) -> dict[str, list[str]]:
        """Execution ids not finished yet, ``{"queued": [...], "running": [...]}``: what ``cancel`` takes
        (only ``user``'s, if given)."""
        await self._ready()
        return await self._scheduler.pending.remote(user)

    async def stats(self, user: str | None = None) -> ExecutionStatistics:
        """Counters, and queued, running and done per user with the shares; with ``user``, the counters
        and that user's own entry only (what a user's HTTP token sees)."""
        counts = await self._scheduler.counts.remote()
        users = await self._scheduler.users.remote(user)
        statistics: ExecutionStatistics = await self._collector.stats.remote(counts["queued"], counts["running"])
        return statistics.model_copy(update={
            "users": users, "cache_hits": counts["cache_hits"], "single_flight_joins": counts["single_flight_joins"],
        })

    async def cluster(self) -> dict[str, Any]:
        """Per node: its workers, slots in use and the latest usage the Monitor saw."""
        await self._ready()
        view = await self._scheduler.cluster.remote()
        usage = await self._monitor.snapshot.remote() if self._monitor is not None else {}
        for node_id, node in view["nodes"].items():
            node["usage"] = usage.get(node_id, {})
        return view

    async def cost_breakdown(self) -> dict[str, float]:
        """Where a task's time goes: mean seconds in queue, dispatch, sandbox, reset and delivery."""
        await self._ready()
        return await self._scheduler.cost_breakdown.remote()

    async def cache_info(self) -> dict[str, int]:
        return await self._collector.cache_info.remote()

    async def config(self) -> ExecutorConfig:
        return self._config

    async def shutdown(self) -> int:
        """Stop the workers and remove every container they started; returns how many were removed."""
        try:
            removed = await self._scheduler.shutdown.remote()
        except RayTaskError as error:
            raise unwrap_error(error) from None
        for actor in (self._scheduler, self._monitor, self._collector):
            if actor is not None:
                ray.kill(actor, no_restart=True)
        return removed
