"""Human-readable text for results, statistics and the cluster view."""

from __future__ import annotations

import re
from typing import Any

from faber_ray.models import ExecutionStatistics, TaskResult, TaskStatus
from faber_ray.scheduling.stats import percentile

__all__ = ["cluster_table", "human_bytes", "stats_table", "status_line", "summary_table"]


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} GiB"


def status_line(result: TaskResult, exit_code: int, step_names: list[str] | None = None) -> str:
    """One sentence on how a task ended, for stderr. ``exit_code`` is what the command itself exits with
    (``$?``), never the container's; ``step_names`` name the steps for people ("compile", "input 2 (b)"),
    else they are counted from one."""
    usage = result.resource_usage
    parts = [f"faber-ray: {result.status.value} (exit {exit_code})"]
    steps = result.steps or []
    failed = next((n for n, step in enumerate(steps) if step.status is not TaskStatus.SUCCESS), None)
    if failed is not None and (step_names or len(steps) > 1):
        name = step_names[failed] if step_names and failed < len(step_names) else f"step {failed + 1} of {len(steps)}"
        parts.append(f"{name} failed;")
    parts.append(
        f"in {usage.wall_time:.3f} s wall, {usage.cpu_time:.3f} s CPU, {human_bytes(usage.peak_memory)} peak memory"
    )
    line = " ".join(parts)
    if result.resource_limits_exceeded:
        line += f"; limits hit: {', '.join(result.resource_limits_exceeded)}"
    truncated = [name for name, flag in (("stdout", result.stdout_truncated), ("stderr", result.stderr_truncated)) if flag]
    if truncated:
        line += f"; {' and '.join(truncated)} truncated"
    if result.error:
        line += f"; {result.error}"
    return line


def summary_table(results: list[TaskResult], elapsed: float) -> str:
    """Counts by status, wall-time percentiles and throughput of a finished batch."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    walls = [result.resource_usage.wall_time for result in results]
    lines = ["status                   count"]
    for status in TaskStatus:
        if status.value in counts:
            lines.append(f"{status.value:<24} {counts[status.value]:>6}")
    rate = len(results) / elapsed if elapsed > 0 else 0.0
    lines.append(
        f"{len(results)} tasks in {elapsed:.1f} s ({rate:.1f} tasks/s); wall time p50 "
        f"{percentile(walls, 0.5):.3f} s, p95 {percentile(walls, 0.95):.3f} s"
    )
    return "\n".join(lines)


def stats_table(stats: ExecutionStatistics) -> str:
    lines = [
        f"total finished   {stats.total}",
        *(f"  {status:<22} {count}" for status, count in sorted(stats.by_status.items())),
        f"wall time        mean {stats.wall_time_mean:.3f} s, p50 {stats.wall_time_p50:.3f} s, "
        f"p95 {stats.wall_time_p95:.3f} s",
        f"throughput       {stats.throughput:.2f} tasks/s",
        f"queued now       {stats.queued}",
        f"running now      {stats.running}",
    ]
    return "\n".join(lines)


def _natural(name: str) -> list[Any]:
    """Sort key that puts worker-x-2 before worker-x-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def cluster_table(view: dict[str, Any]) -> str:
    """The cluster-wide picture first (with the cap on running tasks), then each node and its workers."""
    workers = sum(len(node["workers"]) for node in view["nodes"].values())
    head = f"{len(view['nodes'])} node(s), {workers} worker(s); {view['running']} running, {view['queued']} queued"
    if "max_concurrent_tasks" in view:
        head += f"; at most {view['max_concurrent_tasks']} running at once cluster-wide (max_concurrent_tasks)"
    lines = [head]
    for node_id, node in sorted(view["nodes"].items()):
        usage = node.get("usage", {})
        lines.append(
            f"node {node_id[:8]}: {len(node['workers'])} workers, {node['slots_in_use']} running in "
            f"{node['slots']} worker slots, memory reserved {human_bytes(node.get('memory_reserved', 0))} of "
            f"{human_bytes(node.get('memory_capacity', 0))}, {usage.get('tasks_finished', 0)} tasks finished, "
            f"{usage.get('cpu_seconds', 0.0):.1f} CPU s"
        )
        for worker in sorted(node["workers"], key=lambda worker: _natural(worker["name"])):
            lines.append(f"  {worker['name']}: {worker['running']} running in {worker['slots']} slots")
    for node_id, reason in sorted(view.get("unavailable_nodes", {}).items()):
        lines.append(f"node {node_id[:8]} hosts no workers: {reason}")
    return "\n".join(lines)
