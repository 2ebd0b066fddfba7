"""Which worker gets the next task, and how many each may run.

The cluster never runs more than ``max_concurrent`` tasks at once. That cap
is split into *permits*, one per task that may run, spread over every worker
of the cluster (round robin over nodes, so no node is favoured); a worker
runs at most its permits. Because the cap lives in the permits, a worker may
also hold a *backlog* of up to as many tasks again, which it starts the
moment a slot frees up: the Scheduler can then hand out several tasks per
call, and a worker never waits for a Ray round trip between two tasks.

A worker starts its tasks in the order it got them, so the ones running are
always the first ``permits`` of its list; the rest are its backlog. Among
workers with room the policy spreads load: the node with the fewest tasks
first, then its least busy worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faber_ray.scheduling.ledger import Need

__all__ = ["BACKLOG", "Placement", "WorkerState"]

#: Tasks a worker may hold beyond the ones it runs, per permit. One: enough that a worker never waits
#: for a Ray round trip between two tasks, few enough that a task the fair queue sends ahead of a
#: flood (a late user's, a higher priority) waits behind at most one task per slot.
BACKLOG = 1


@dataclass
class WorkerState:
    name: str
    node_id: str
    index: int = 0
    permits: int = 0
    assigned: dict[str, None] = field(default_factory=dict)  # in the order the worker got them

    @property
    def free(self) -> int:
        """Room for more tasks. A worker whose permits are all busy takes more only once a permit's
        worth of room has opened, so that tasks go to it several per call rather than one by one."""
        room = self.permits * (1 + BACKLOG) - len(self.assigned)
        if len(self.assigned) >= self.permits and room < self.permits:
            return 0
        return room

    @property
    def running(self) -> list[str]:
        """What it runs now: the first ``permits`` of what it holds."""
        return list(self.assigned)[: self.permits]

    @property
    def backlog(self) -> list[str]:
        return list(self.assigned)[self.permits :]


class Placement:
    """The permit book of every worker, keyed by worker name."""

    def __init__(self, max_concurrent: int) -> None:
        self.max_concurrent = max_concurrent
        self._workers: dict[str, WorkerState] = {}
        self._where: dict[str, str] = {}  # execution id -> worker name

    # Workers -------------------------------------------------------------------

    def add_worker(self, name: str, node_id: str, index: int = 0) -> dict[str, int]:
        """Add a worker; returns the workers whose permits changed (tell them), with the new count."""
        self._workers[name] = WorkerState(name, node_id, index)
        return self._rebalance()

    def remove_worker(self, name: str) -> tuple[list[str], dict[str, int]]:
        """Forget a worker: the executions it held, and the permits that changed for the others."""
        state = self._workers.pop(name, None)
        if state is None:
            return [], {}
        for execution_id in state.assigned:
            self._where.pop(execution_id, None)
        return list(state.assigned), self._rebalance()

    def _rebalance(self) -> dict[str, int]:
        """Spread ``max_concurrent`` permits: each worker in turn, the nth worker of every node first."""
        order = sorted(self._workers.values(), key=lambda state: (state.index, state.node_id, state.name))
        count = len(order)
        changed = {}
        for position, state in enumerate(order):
            permits = self.max_concurrent // count + (1 if position < self.max_concurrent % count else 0)
            if permits != state.permits:
                state.permits = permits
                changed[state.name] = permits
        return changed

    def workers(self) -> list[WorkerState]:
        return list(self._workers.values())

    def workers_on(self, node_id: str) -> list[str]:
        return [w.name for w in self._workers.values() if w.node_id == node_id]

    def nodes(self) -> set[str]:
        return {w.node_id for w in self._workers.values()}

    def node_of(self, worker: str) -> str | None:
        state = self._workers.get(worker)
        return state.node_id if state else None

    def has_worker(self, name: str) -> bool:
        return name in self._workers

    def by_node(
        self, capacity: Callable[[str], Need], reserved: Callable[[str], Need] | None = None
    ) -> dict[str, dict[str, Any]]:
        """What ``faber-ray cluster`` shows per node: its workers (sorted by name) with their
        permits, running tasks and backlog, the node's slots in use, its ``capacity`` (memory, pids)
        and what running tasks have ``reserved`` of it."""
        nodes: dict[str, dict[str, Any]] = {}
        for worker in sorted(self._workers.values(), key=lambda state: state.name):
            node = nodes.setdefault(
                worker.node_id,
                {
                    "workers": [], "slots": 0, "slots_in_use": 0,
                    "memory_capacity": capacity(worker.node_id).memory, "pids_capacity": capacity(worker.node_id).pids,
                    **(
                        {"memory_reserved": reserved(worker.node_id).memory, "pids_reserved": reserved(worker.node_id).pids}
                        if reserved is not None else {}
                    ),
                },
            )
            node["workers"].append({
                "name": worker.name, "slots": worker.permits, "running": len(worker.running),
                "tasks": sorted(worker.running), "backlog": len(worker.backlog),
            })
            node["slots"] += worker.permits
            node["slots_in_use"] += len(worker.running)
        return nodes

    # Tasks ---------------------------------------------------------------------

    @property
    def running(self) -> int:
        """Tasks running now, cluster-wide (never above ``max_concurrent``)."""
        return sum(min(w.permits, len(w.assigned)) for w in self._workers.values())

    @property
    def backlog(self) -> int:
        return sum(max(0, len(w.assigned) - w.permits) for w in self._workers.values())

    def running_ids(self) -> list[str]:
        return [execution_id for w in self._workers.values() for execution_id in w.running]

    def backlog_ids(self) -> list[str]:
        return [execution_id for w in self._workers.values() for execution_id in w.backlog]

    def running_on(self, node_id: str) -> int:
        return sum(min(w.permits, len(w.assigned)) for w in self._workers.values() if w.node_id == node_id)

    def _held_on(self, node_id: str) -> int:
        return sum(len(w.assigned) for w in self._workers.values() if w.node_id == node_id)

    def preferred_nodes(self) -> list[str]:
        """Nodes with room, least loaded first."""
        load = {w.node_id: self._held_on(w.node_id) for w in self._workers.values() if w.free > 0}
        return sorted(load, key=lambda node: (load[node], node))

    def plan(self, count: int) -> list[list[str]]:
        """Node preferences for the next ``count`` tasks, as if each lands on its first choice.

        One admission request can then cover a whole dispatch round: the list stops
        where the room (permits and backlog) runs out.
        """
        load: dict[str, int] = {}
        free: dict[str, int] = {}
        for worker in self._workers.values():
            load[worker.node_id] = load.get(worker.node_id, 0) + len(worker.assigned)
            free[worker.node_id] = free.get(worker.node_id, 0) + max(0, worker.free)
        plans: list[list[str]] = []
        while len(plans) < count:
            nodes = sorted((node for node in free if free[node] > 0), key=lambda node: (load[node], node))
            if not nodes:
                break
            plans.append(nodes)
            load[nodes[0]] += 1
            free[nodes[0]] -= 1
        return plans

    def worker_for(self, node_id: str) -> str | None:
        """The least busy worker of ``node_id`` with room."""
        free = [w for w in self._workers.values() if w.node_id == node_id and w.free > 0]
        if not free:
            return None
        return min(free, key=lambda w: (len(w.assigned) / w.permits, w.name)).name

    def assign(self, worker: str, execution_id: str) -> None:
        state = self._workers[worker]
        if state.free <= 0:
            raise RuntimeError(f"worker {worker} has no room")
        state.assigned[execution_id] = None
        self._where[execution_id] = worker

    def release(self, execution_id: str) -> str | None:
        """Forget ``execution_id`` (it ended); returns the worker it was on."""
        worker = self._where.pop(execution_id, None)
        if worker is not None and worker in self._workers:
            self._workers[worker].assigned.pop(execution_id, None)
        return worker

    def worker_of(self, execution_id: str) -> str | None:
        return self._where.get(execution_id)
