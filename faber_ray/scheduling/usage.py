"""The Monitor's book of usage reports: recent samples and per-node aggregates."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["NodeUsage", "UsageBook", "UsageReport"]


@dataclass
class UsageReport:
    """What a worker pushes when one of its tasks ends."""

    node_id: str
    worker: str
    execution_id: str
    status: str
    wall_time: float
    cpu_time: float
    peak_memory: int
    running_on_worker: int
    at: float = field(default_factory=time.time)


@dataclass
class NodeUsage:
    """Aggregates for one node, built only from reports (nobody polls)."""

    tasks_finished: int = 0
    cpu_seconds: float = 0.0
    peak_memory: int = 0
    last_peak_memory: int = 0
    running: dict[str, int] = field(default_factory=dict)  # worker -> tasks running there
    last_report_at: float = 0.0

    @property
    def running_total(self) -> int:
        return sum(self.running.values())


class UsageBook:
    """Keeps the last ``window`` reports and one :class:`NodeUsage` per node."""

    def __init__(self, window: int = 1000) -> None:
        self.samples: deque[UsageReport] = deque(maxlen=window)
        self.nodes: dict[str, NodeUsage] = {}

    def record(self, report: UsageReport) -> NodeUsage:
        self.samples.append(report)
        node = self.nodes.setdefault(report.node_id, NodeUsage())
        node.tasks_finished += 1
        node.cpu_seconds += report.cpu_time
        node.peak_memory = max(node.peak_memory, report.peak_memory)
        node.last_peak_memory = report.peak_memory
        node.running[report.worker] = report.running_on_worker
        node.last_report_at = report.at
        return node

    def forget_node(self, node_id: str) -> None:
        self.nodes.pop(node_id, None)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {
            node_id: {
                "tasks_finished": usage.tasks_finished,
                "cpu_seconds": usage.cpu_seconds,
                "peak_memory": usage.peak_memory,
                "last_peak_memory": usage.last_peak_memory,
                "running": usage.running_total,
                "last_report_at": usage.last_report_at,
            }
            for node_id, usage in self.nodes.items()
        }

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        return [asdict(report) for report in list(self.samples)[-limit:]]
