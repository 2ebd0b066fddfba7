"""``Monitor``: fed by the workers' reports, it answers the Scheduler's admission question."""

from __future__ import annotations

from typing import Any

import ray

from faber_ray import metrics
from faber_ray.scheduling.ledger import CapacityLedger
from faber_ray.scheduling.usage import UsageBook, UsageReport

__all__ = ["Monitor"]


@ray.remote
class Monitor:
    """Holds memory reservations per node and the recent usage reports.

    Reports arrive as fire-and-forget calls, so a slow Monitor never delays a
    task; the only call that waits on it is ``admit``, one per dispatch.
    """

    def __init__(self, window: int = 1000) -> None:
        self._ledger = CapacityLedger()
        self._book = UsageBook(window)

    def set_capacity(self, node_id: str, capacity: int) -> None:
        self._ledger.set_capacity(node_id, capacity)

    def remove_node(self, node_id: str) -> None:
        self._ledger.remove_node(node_id)
        self._book.forget_node(node_id)

    def admit(self, execution_id: str, memory: int, nodes: list[str]) -> str | None:
        """Reserve ``memory`` on the first of ``nodes`` where it fits now; None if none has room."""
        node = self._ledger.reserve(execution_id, memory, nodes)
        if node is not None:
            metrics.node_memory_reserved(node, self._ledger.reserved(node))
        return node

    def release(self, execution_id: str) -> None:
        node = self._ledger.release(execution_id)
        if node is not None:
            metrics.node_memory_reserved(node, self._ledger.reserved(node))

    def report(self, report: UsageReport) -> None:
        node = self._book.record(report)
        metrics.node_cpu_seconds(report.node_id, node.cpu_seconds)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per node: the latest aggregates, its memory capacity and what is reserved now."""
        nodes = self._book.snapshot()
        for node_id, memory in self._ledger.snapshot().items():
            nodes.setdefault(node_id, {}).update(
                memory_capacity=memory["capacity"], memory_reserved=memory["reserved"]
            )
        return nodes

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._book.recent(limit)
