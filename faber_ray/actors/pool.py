"""The Scheduler's pool of SandboxWorkers: one set per sandbox node, kept whole.

Workers start on every node that hosts sandboxes, including nodes that join
later; a dead worker is replaced on its node, a lost node is forgotten, and
whatever a dead worker left running is reaped by a live one. Membership is
re-read every ``NODE_REFRESH_SECONDS``, off the dispatch path; lost workers are
also noticed at once, when a call to them fails.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any

import ray
from ray.exceptions import RayError

from faber_ray.actors.options import SANDBOX_RESOURCE, ActorNames, worker_options
from faber_ray.actors.worker import SandboxWorker
from faber_ray.config import ExecutorConfig
from faber_ray.errors import short_error
from faber_ray.scheduling.ledger import CapacityLedger, Need
from faber_ray.scheduling.placement import Placement

__all__ = ["NODE_REFRESH_SECONDS", "WorkerPool", "sandbox_nodes"]

log = logging.getLogger(__name__)

NODE_REFRESH_SECONDS = 2.0
#: How long an image's ID is trusted before a node is asked again (a tag may move to a new build).
IMAGE_ID_AGE = 10.0
WORKER_START_TIMEOUT = 120.0
#: A node where a worker failed to start is tried again after this pause.
RETRY_FAILED_NODE_SECONDS = 30.0


def sandbox_nodes(nodes: list[dict[str, Any]]) -> list[str]:
    """Alive nodes that host sandboxes: those advertising ``faber_ray_sandbox``, or all if none does."""
    alive = [node for node in nodes if node.get("Alive")]
    marked = [node for node in alive if node.get("Resources", {}).get(SANDBOX_RESOURCE)]
    return [node["NodeID"] for node in (marked or alive)]


async def _nodes() -> list[dict[str, Any]]:
    """``ray.nodes()`` blocks on the GCS: ask from a thread, never on the Scheduler's event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, ray.nodes)


class WorkerPool:
    """Starts, replaces and forgets workers; records them in the Scheduler's placement and ledger (the
    one ledger: the Monitor holds none)."""

    def __init__(
        self,
        config: ExecutorConfig,
        names: ActorNames,
        placement: Placement,
        ledger: CapacityLedger,
        monitor: Any | None,
        *,
        on_change: Callable[[], None],
        on_lost: Callable[[str, BaseException], None],
        spawn: Callable[[Coroutine[Any, Any, Any]], Any],
        scheduler: Any = None,
    ) -> None:
        self.monitor = monitor  # where workers send usage reports (it restarts if it dies)
        self.closed = False
        self._config = config
        self._names = names
        self._placement = placement
        self._ledger = ledger
        self._on_change = on_change
        self._on_lost = on_lost
        self._spawn = spawn
        self._scheduler = scheduler  # where workers send their results
        self._slots = math.ceil(config.max_concurrent_tasks / config.worker_pool_size)
        self._workers: dict[str, Any] = {}
        self._home: dict[str, tuple[str, int]] = {}  # name -> (node, index), started or starting
        self._failures: dict[str, tuple[float, str]] = {}  # node -> (when, why) of its last failed start
        self._sync_lock = asyncio.Lock()
        self._images: dict[str, set[str]] = {}  # node -> image names its engine had when last asked
        self._image_ids: dict[str, tuple[str, float]] = {}  # image name -> (its ID, when asked)
        self._permits_lock = asyncio.Lock()
        self._pending_permits: dict[str, int] = {}  # permit changes not yet told to their workers
        self._told: dict[str, int] = {}  # worker -> the permits it answered it now keeps to

    def __len__(self) -> int:
        return len(self._workers)

    def handle(self, name: str) -> Any | None:
        return self._workers.get(name)

    def node_of(self, name: str) -> str:
        """The node a worker lives (or lived) on; '' once forgotten."""
        return self._home.get(name, ("", 0))[0]

    async def image_anywhere(self, name: str) -> bool:
        """Whether any sandbox node has image ``name``, asking the nodes again when the list is stale."""
        wanted = name if ":" in name.rsplit("/", 1)[-1] or "@" in name else f"{name}:latest"
        if any(wanted in images for images in self._images.values()):
            return True
        askers: dict[str, Any] = {}
        for worker, (node, _) in self._home.items():
            if worker in self._workers:
                askers.setdefault(node, self._workers[worker])
        answers = await asyncio.gather(
            *(handle.has_image.remote(name) for handle in askers.values()), return_exceptions=True
        )
        found = False
        for node, answer in zip(askers, answers):
            if answer is True:
                self._images.setdefault(node, set()).add(wanted)
                found = True
        return found or not askers

    async def image_id(self, name: str) -> str | None:
        """Image ``name``'s ID as a sandbox node's engine has it (asked once per name and remembered
        for a while; the first node that has it answers)."""
        known = self._image_ids.get(name)
        if known is not None and time.monotonic() - known[1] < IMAGE_ID_AGE:
            return known[0]
        for handle in list(self._workers.values()):
            try:
                found: str | None = await handle.image_id.remote(name)
            except RayError:
                continue
            if found is not None:
                self._image_ids[name] = (found, time.monotonic())
                return found
        return None

    def failures(self) -> dict[str, str]:
        """Nodes whose last worker start failed, with the reason."""
        return {node: why for node, (_, why) in self._failures.items()}

    async def run_membership(self) -> None:
        while not self.closed:
            await asyncio.sleep(NODE_REFRESH_SECONDS)
            try:
                await self.sync()
            except Exception:  # noqa: BLE001 - the loop must survive one bad refresh
                log.exception("membership refresh failed")

    async def sync(self) -> None:
        """Forget lost nodes; give every alive node its full pool."""
        async with self._sync_lock:
            alive = set(sandbox_nodes(await _nodes()))
            known = self._placement.nodes() | {node for node, _ in self._home.values()}
            lost = known - alive
            for node in lost:
                self._forget_node(node)
            if lost and not self.closed:
                # The lost workers' failed calls find them forgotten already and
                # start no replacement, so the reaping after their death starts here.
                self._spawn(self._reap_orphans())
            now = time.monotonic()
            starts = [
                self._start(node, index)
                for node in alive
                if now - self._failures.get(node, (-math.inf, ""))[0] >= RETRY_FAILED_NODE_SECONDS
                for index in range(self._config.worker_pool_size)
                if self._names.worker(node, index) not in self._home
            ]
            await asyncio.gather(*starts)

    def lost(self, name: str, error: BaseException) -> None:
        """Forget a dead worker once, hand its tasks back (``on_lost``), and replace it if its node lives."""
        if name not in self._workers:
            return
        log.warning("worker %s lost: %s", name, short_error(error))
        self._workers.pop(name)
        self._forget_worker(name)
        self._on_lost(name, error)
        node, index = self._home[name]
        if not self.closed:
            self._spawn(self._replace(node, index))

    async def _watch(self, name: str, handle: Any) -> None:
        """One call per worker that ends only with it: if it fails, the worker died (SIGKILL, node loss)."""
        try:
            await handle.watch.remote()
        except RayError as error:
            if self._workers.get(name) is handle:
                self.lost(name, error)

    async def shutdown(self) -> int:
        """Stop every worker after it removed its containers; returns how many were left to remove."""
        self.closed = True
        outcomes = await asyncio.gather(
            *(handle.shutdown.remote() for handle in self._workers.values()), return_exceptions=True
        )
        for handle in self._workers.values():
            ray.kill(handle, no_restart=True)
        self._workers.clear()
        return sum(outcome for outcome in outcomes if isinstance(outcome, int))

    async def _replace(self, node: str, index: int) -> None:
        if node in sandbox_nodes(await _nodes()):
            await self._start(node, index)
        else:
            self._forget_node(node)
        await self._reap_orphans()

    async def _reap_orphans(self) -> None:
        # Whatever a dead worker left running is removed by a live worker that
        # shares its engine (on a real cluster, the replacement on the same node).
        for handle in list(self._workers.values())[:1]:
            try:
                await handle.reap_orphans.remote()
            except RayError:
                pass

    def _forget_worker(self, name: str) -> None:
        """Out of the placement; the others' permits grow to keep the cluster's cap in use."""
        _, changed = self._placement.remove_worker(name)
        self._tell_permits(changed)

    def _tell_permits(self, changed: dict[str, int]) -> None:
        if changed:
            self._pending_permits.update(changed)
            self._spawn(self._apply_permits())

    async def _apply_permits(self) -> None:
        """Tell workers their new permits so that the cluster's cap holds at every moment: the workers
        that lose permits first, each answering once it runs no more than its new count, and only then
        the ones that gain. (Told at once, a newcomer would start tasks while the others still ran
        theirs: with a cap of 8, 12 could run.) One change at a time, in the order they were made."""
        async with self._permits_lock:
            changed, self._pending_permits = self._pending_permits, {}
            shrinking = {name: n for name, n in changed.items() if n < self._told.get(name, 0)}
            growing = {name: n for name, n in changed.items() if name not in shrinking}
            await asyncio.gather(*(self._set_permits(name, n) for name, n in shrinking.items()))
            await asyncio.gather(*(self._set_permits(name, n) for name, n in growing.items()))

    async def _set_permits(self, name: str, permits: int) -> None:
        handle = self._workers.get(name)
        if handle is None:
            self._told.pop(name, None)
            return
        try:
            await handle.set_permits.remote(permits)
            self._told[name] = permits
        except RayError:
            self._told.pop(name, None)  # it died: the pool notices through its watch call

    def _forget_node(self, node: str) -> None:
        self._images.pop(node, None)
        for name in [name for name, (home, _) in self._home.items() if home == node]:
            if self._workers.pop(name, None) is not None:
                self._forget_worker(name)
                self._on_lost(name, ConnectionError(f"its node {node[:8]} was lost"))
            self._home.pop(name, None)
        self._ledger.remove_node(node)
        if self.monitor is not None:
            self.monitor.remove_node.remote(node)

    async def _start(self, node: str, index: int) -> None:
        name = self._names.worker(node, index)
        self._home[name] = (node, index)
        handle = None
        for _ in range(50):  # a dead predecessor's name is released a moment after its death
            try:
                options = worker_options(name, node)
                handle = SandboxWorker.options(**options).remote(  # type: ignore[attr-defined]
                    self._config, name, self.monitor, self._slots, self._scheduler
                )
                break
            except ValueError:
                await asyncio.sleep(0.1)
        if handle is None:
            self._start_failed(name, node, f"the actor name {name} stayed taken")
            return
        try:
            info = await asyncio.wait_for(handle.ready.remote(), WORKER_START_TIMEOUT)
        except (RayError, asyncio.TimeoutError) as error:
            ray.kill(handle, no_restart=True)
            self._start_failed(name, node, short_error(error))
            return
        self._failures.pop(node, None)
        if self.closed:
            ray.kill(handle, no_restart=True)
            return
        self._workers[name] = handle
        self._tell_permits(self._placement.add_worker(name, node, index))
        self._spawn(self._watch(name, handle))
        self._images[node] = set(info.get("images", []))
        capacity = Need(info["memory_capacity"], info["pid_capacity"])
        self._ledger.set_capacity(node, capacity)
        self._on_change()

    def _start_failed(self, name: str, node: str, why: str) -> None:
        """Remember why, and let the membership loop try again after a pause."""
        self._home.pop(name, None)
        self._failures[node] = (time.monotonic(), why)
        log.error("worker %s could not start on node %s: %s", name, node[:8], why)
