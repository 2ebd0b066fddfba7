"""The one place where actor options are decided (as Ray Serve keeps its controller's).

Control actors (executor, scheduler, monitor, collector) are pinned *hard* to
the node that created them: the owner of every result ref must not sit on a
node that can be removed, and a soft affinity does not keep a 0-CPU actor
home. Workers are pinned hard to the node whose containers they launch. No
actor reserves CPU, so the executor never starves the cluster it runs in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

__all__ = ["NAMESPACE", "SANDBOX_RESOURCE", "SHARED_EXECUTOR_NAME", "ActorNames", "control_options", "worker_options"]

NAMESPACE = "faber-ray"
#: The name of a cluster's shared executor (``faber-ray start``).
SHARED_EXECUTOR_NAME = "executor"
#: Nodes that advertise this custom resource host sandboxes; if none does, every node does.
SANDBOX_RESOURCE = "faber_ray_sandbox"

# An async actor handles this many calls at once; every pending ``result`` call
# holds one, so the limit must exceed the number of tasks in flight.
_ASYNC_CONCURRENCY = 1_000_000


@dataclass(frozen=True)
class ActorNames:
    """Readable names for the dashboard; a private executor suffixes them with its tag."""

    tag: str = ""

    def _name(self, base: str) -> str:
        return f"{base}-{self.tag}" if self.tag else base

    @property
    def executor(self) -> str:
        return self._name("executor")

    @property
    def scheduler(self) -> str:
        return self._name("scheduler")

    @property
    def monitor(self) -> str:
        return self._name("monitor")

    @property
    def collector(self) -> str:
        return self._name("collector")

    def worker(self, node_id: str, index: int) -> str:
        return self._name(f"worker-{node_id[:8]}-{index}")


def _pinned(node_id: str) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)


def control_options(role: str, name: str, node_id: str, *, detached: bool = False) -> dict[str, Any]:
    """Options for the executor, scheduler, monitor and collector actors."""
    options: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "num_cpus": 0,
        # The Monitor holds only usage figures, so a new one may take over; the others hold state a
        # restart would lose (the executor owns the refs, the Scheduler the queue, the collector the cache).
        "max_restarts": -1 if role == "monitor" else 0,
        "scheduling_strategy": _pinned(node_id),
    }
    if role in ("executor", "scheduler"):
        options["max_concurrency"] = _ASYNC_CONCURRENCY
    if detached:
        options["lifetime"] = "detached"
    return options


def worker_options(name: str, node_id: str) -> dict[str, Any]:
    """Options for a SandboxWorker: an async actor (tasks run on its own slot threads; its calls,
    watchers of live output included, are coroutines, bounded by the executor's watcher caps)."""
    return {
        "name": name,
        "namespace": NAMESPACE,
        "num_cpus": 0,
        "max_restarts": 0,
        "max_concurrency": _ASYNC_CONCURRENCY,
        "scheduling_strategy": _pinned(node_id),
    }
