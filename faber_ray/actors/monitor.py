"""``Monitor``: aggregates the usage that workers report, for ``cluster()`` and the dashboard.

It decides nothing: admission lives in the Scheduler's one ledger, so losing
the Monitor loses a window of usage figures, never a reservation. It restarts
when it dies (``actors/options.py``) and fills again from the next reports.
"""

from __future__ import annotations

from typing import Any

import ray

from faber_ray.actors import metrics
from faber_ray.scheduling.usage import UsageBook, UsageReport

__all__ = ["Monitor"]


@ray.remote
class Monitor:
    """The recent usage reports per node. Reports arrive in batches as fire-and-forget calls, so a
    slow (or restarting) Monitor never delays a task."""

    def __init__(self, window: int = 1000) -> None:
        self._book = UsageBook(window)

    def remove_node(self, node_id: str) -> None:
        self._book.forget_node(node_id)

    def report_many(self, reports: list[UsageReport]) -> None:
        for report in reports:
            node = self._book.record(report)
            metrics.node_cpu_seconds(report.node_id, node.cpu_seconds)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per node: the latest aggregates."""
        return self._book.snapshot()

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._book.recent(limit)
