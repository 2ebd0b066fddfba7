"""``Monitor``: fed by the workers' reports, it answers the Scheduler's admission question."""

from __future__ import annotations

from typing import Any

import ray

from faber_ray.actors import metrics
from faber_ray.scheduling.ledger import CapacityLedger, Need
from faber_ray.scheduling.usage import UsageBook, UsageReport

__all__ = ["Monitor"]


@ray.remote
class Monitor:
    """Holds memory reservations per node and the recent usage reports.

    Reports and releases arrive in batches as fire-and-forget calls, so a slow
    Monitor never delays a task; the only call that waits on it is
    ``admit_many``, one per dispatch round however many tasks it covers.
    """

    def __init__(self, window: int = 1000) -> None:
        self._ledger = CapacityLedger()
        self._book = UsageBook(window)

    def set_capacity(self, node_id: str, capacity: Need) -> None:
        self._ledger.set_capacity(node_id, capacity)

    def remove_node(self, node_id: str) -> None:
        self._ledger.remove_node(node_id)
        self._book.forget_node(node_id)

    def admit_many(self, requests: list[tuple[str, Need, list[str]]], releases: list[str] | None = None) -> list[str | None]:
        """Free ``releases`` first, then for each ``(execution_id, need, nodes)`` in order: the node
        where its memory and pids are now reserved, or None (and None for all after it, so no later task overtakes it)."""
        if releases:
            self.release_many(releases)
        placed = self._ledger.reserve_many(requests)
        for node in set(placed):
            if node is not None:
                metrics.node_memory_reserved(node, self._ledger.reserved(node).memory)
        return placed

    def release_many(self, execution_ids: list[str]) -> None:
        touched = {self._ledger.release(execution_id) for execution_id in execution_ids}
        for node in touched:
            if node is not None:
                metrics.node_memory_reserved(node, self._ledger.reserved(node).memory)

    def report_many(self, reports: list[UsageReport]) -> None:
        for report in reports:
            node = self._book.record(report)
            metrics.node_cpu_seconds(report.node_id, node.cpu_seconds)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per node: the latest aggregates, its memory capacity and what is reserved now."""
        nodes = self._book.snapshot()
        for node_id, held in self._ledger.snapshot().items():
            nodes.setdefault(node_id, {}).update(
                memory_capacity=held["capacity"], memory_reserved=held["reserved"],
                pids_capacity=held["pids_capacity"], pids_reserved=held["pids_reserved"],
            )
        return nodes

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._book.recent(limit)
