"""Which worker gets the next task.

Workers have a fixed number of slots; the cluster as a whole never runs more
than ``max_concurrent`` tasks. Among free slots the policy spreads load: the
node running the fewest tasks first, then its least busy worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Placement", "WorkerState"]


@dataclass
class WorkerState:
    name: str
    node_id: str
    slots: int
    running: set[str] = field(default_factory=set)

    @property
    def free(self) -> int:
        return self.slots - len(self.running)


class Placement:
    """The slot book of every worker, keyed by worker name."""

    def __init__(self, max_concurrent: int) -> None:
        self.max_concurrent = max_concurrent
        self._workers: dict[str, WorkerState] = {}
        self._where: dict[str, str] = {}  # execution id -> worker name

    # Workers -------------------------------------------------------------------

    def add_worker(self, name: str, node_id: str, slots: int) -> None:
        self._workers[name] = WorkerState(name, node_id, slots)

    def remove_worker(self, name: str) -> set[str]:
        """Forget a worker; returns the executions it was running."""
        state = self._workers.pop(name, None)
        if state is None:
            return set()
        for execution_id in state.running:
            self._where.pop(execution_id, None)
        return state.running

    def workers(self) -> list[WorkerState]:
        return list(self._workers.values())

    def workers_on(self, node_id: str) -> list[str]:
        return [w.name for w in self._workers.values() if w.node_id == node_id]

    def nodes(self) -> set[str]:
        return {w.node_id for w in self._workers.values()}

    def has_worker(self, name: str) -> bool:
        return name in self._workers

    # Slots ---------------------------------------------------------------------

    @property
    def running(self) -> int:
        return len(self._where)

    def running_on(self, node_id: str) -> int:
        return sum(len(w.running) for w in self._workers.values() if w.node_id == node_id)

    def preferred_nodes(self) -> list[str]:
        """Nodes with a free slot, least loaded first; empty when the cluster-wide cap is reached."""
        if self.running >= self.max_concurrent:
            return []
        load: dict[str, int] = {}
        for worker in self._workers.values():
            if worker.free > 0:
                load[worker.node_id] = self.running_on(worker.node_id)
        return sorted(load, key=lambda node: (load[node], node))

    def plan(self, count: int) -> list[list[str]]:
        """Node preferences for the next ``count`` tasks, as if each lands on its first choice.

        One admission request can then cover a whole dispatch round: the list stops
        where the cluster-wide cap or the free slots run out.
        """
        load: dict[str, int] = {}
        free: dict[str, int] = {}
        for worker in self._workers.values():
            load[worker.node_id] = load.get(worker.node_id, 0) + len(worker.running)
            free[worker.node_id] = free.get(worker.node_id, 0) + worker.free
        plans: list[list[str]] = []
        room = self.max_concurrent - self.running
        while len(plans) < min(count, room):
            nodes = sorted((node for node in free if free[node] > 0), key=lambda node: (load[node], node))
            if not nodes:
                break
            plans.append(nodes)
            load[nodes[0]] += 1
            free[nodes[0]] -= 1
        return plans

    def worker_for(self, node_id: str) -> str | None:
        """The least busy worker of ``node_id`` with a free slot."""
        free = [w for w in self._workers.values() if w.node_id == node_id and w.free > 0]
        if not free:
            return None
        return min(free, key=lambda w: (len(w.running), w.name)).name

    def assign(self, worker: str, execution_id: str) -> None:
        state = self._workers[worker]
        if state.free <= 0:
            raise RuntimeError(f"worker {worker} has no free slot")
        state.running.add(execution_id)
        self._where[execution_id] = worker

    def release(self, execution_id: str) -> str | None:
        """Free the slot of ``execution_id``; returns the worker it was on."""
        worker = self._where.pop(execution_id, None)
        if worker is not None and worker in self._workers:
            self._workers[worker].running.discard(execution_id)
        return worker

    def worker_of(self, execution_id: str) -> str | None:
        return self._where.get(execution_id)
