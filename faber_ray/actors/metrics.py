"""Metrics for the Ray dashboard (Prometheus via ``ray.util.metrics``).

Every name starts with ``faber_``; tags are low-cardinality (node, status,
reason), never execution ids. Metric objects are per process, so each actor
creates them lazily on first use.
"""

from __future__ import annotations

from functools import cache

from ray.util.metrics import Counter, Gauge, Histogram

__all__ = [
    "infra_retry",
    "node_cpu_seconds",
    "node_memory_reserved",
    "queue_depth",
    "running_on_node",
    "task_finished",
    "tasks_refused",
    "tasks_submitted",
]

def _node(node_id: str) -> str:
    """Node tags are the first 8 hex digits of the id, as the CLI and actor names show them;
    ``none`` for a task that never reached a node (cancelled while queued)."""
    return node_id[:8] or "none"


_SECONDS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]


@cache
def _counter(name: str, description: str, tags: tuple[str, ...] = ()) -> Counter:
    return Counter(name, description=description, tag_keys=tags)


@cache
def _gauge(name: str, description: str, tags: tuple[str, ...] = ()) -> Gauge:
    return Gauge(name, description=description, tag_keys=tags)


@cache
def _histogram(name: str, description: str, tags: tuple[str, ...] = ()) -> Histogram:
    return Histogram(name, description=description, boundaries=_SECONDS, tag_keys=tags)


def tasks_submitted(count: int) -> None:
    _counter("faber_tasks_submitted", "Tasks accepted by the executor.").inc(count)


def tasks_refused(count: int, reason: str) -> None:
    """``reason`` is the error class name, e.g. TaskValidationError."""
    if count <= 0:  # an empty batch is refused too; Ray's Counter.inc refuses 0
        return
    _counter("faber_tasks_refused", "Tasks refused before queueing.", ("reason",)).inc(count, {"reason": reason})


def task_finished(status: str, node: str, wall_time: float, startup_time: float) -> None:
    tags = {"status": status, "node": _node(node)}
    _counter("faber_tasks_finished", "Tasks finished, by status.", ("status", "node")).inc(1, tags)
    _histogram("faber_task_wall_seconds", "Wall time of a task in its sandbox.", ("status", "node")).observe(
        wall_time, tags
    )
    if startup_time > 0:
        _histogram(
            "faber_sandbox_start_seconds", "Container create to process start.", ("node",)
        ).observe(startup_time, {"node": _node(node)})


def queue_depth(depth: int) -> None:
    _gauge("faber_queue_depth", "Tasks waiting in the scheduler.").set(depth)


def running_on_node(node: str, running: int) -> None:
    _gauge("faber_tasks_running", "Tasks running now, per node.", ("node",)).set(running, {"node": _node(node)})


def node_cpu_seconds(node: str, cpu_seconds: float) -> None:
    _gauge("faber_node_sandbox_cpu_seconds", "CPU seconds used by sandboxes, per node.", ("node",)).set(
        cpu_seconds, {"node": _node(node)}
    )


def node_memory_reserved(node: str, memory_reserved: int) -> None:
    _gauge("faber_node_sandbox_memory_bytes", "Sandbox memory reserved now, per node.", ("node",)).set(
        memory_reserved, {"node": _node(node)}
    )


def infra_retry(node: str) -> None:
    _counter("faber_infra_retries", "Tasks re-run after an infrastructure fault.", ("node",)).inc(
        1, {"node": _node(node)}
    )
