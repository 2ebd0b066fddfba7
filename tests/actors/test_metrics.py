"""Metrics reach Prometheus: the head node's metrics endpoint is scraped over HTTP.

Every faber-ray metric is named ``faber_*`` (Ray exports it as ``ray_faber_*``)
and tagged only with low-cardinality keys. Counters are compared before and
after this module's work, because other modules share the cluster.
"""

from __future__ import annotations

import os
import re
import signal
import urllib.request
from collections import defaultdict
from typing import Any

import pytest
import ray
from actor_support import wait_until, worker_names

from faber_ray import ExecutorError, Task, TaskStatus
from faber_ray.actors import NAMESPACE

_SAMPLE = re.compile(r"^(ray_faber_[a-z_]+)\{([^}]*)\} (\S+)$")
ALLOWED_TAGS = {"node", "status", "reason", "le"}
#: What Ray adds to every sample; everything else is a faber-ray tag.
RAY_TAGS = {"Component", "NodeAddress", "SessionName", "Version", "WorkerId", "JobId",
            "otel_scope_name", "otel_scope_schema_url", "otel_scope_version"}


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """``metric name -> [(faber tags, value)]`` from the Prometheus text of the head node."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            name, raw_tags, value = match.groups()
            tags = dict(re.findall(r'(\w+)="([^"]*)"', raw_tags))
            samples[name].append(({k: v for k, v in tags.items() if k not in RAY_TAGS}, float(value)))
    return samples


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **tags: str) -> float:
    return sum(value for found, value in samples.get(name, []) if all(found.get(k) == v for k, v in tags.items()))


@pytest.fixture(scope="module")
def executor(make_executor: Any) -> Any:
    return make_executor(max_concurrent_tasks=4, worker_pool_size=1, max_infra_retries=1)


def test_every_metric_is_exported_with_sensible_values(executor: Any, metrics_port: int) -> None:
    before = scrape(metrics_port)

    # Work that touches every metric: successes, a failure, a refusal, and an infrastructure retry.
    ok = ray.get(executor.execute.remote([Task(command="echo", args=[str(i)]) for i in range(5)]))
    failed = ray.get(executor.execute.remote([Task(command="sh", args=["-c", "exit 2"])]))
    with pytest.raises(ExecutorError):
        ray.get(executor.execute.remote([Task(command="")]))
    refs = ray.get(executor.submit.remote([Task(command="sleep", args=["15"]) for _ in range(4)]))
    wait_until(lambda: ray.get(executor.stats.remote()).running == 4, "four running sandboxes")
    victim = next(iter(worker_names(executor)))
    os.kill(ray.get(ray.get_actor(victim, namespace=NAMESPACE).ready.remote())["pid"], signal.SIGKILL)
    retried = ray.get(refs, timeout=180)
    assert [r.status for r in ok + failed] == [TaskStatus.SUCCESS] * 5 + [TaskStatus.FAILURE]
    assert max(r.attempts for r in retried) == 2

    finished_now = len(ok) + len(failed) + len(retried)
    expected = {
        "ray_faber_tasks_submitted_total", "ray_faber_tasks_refused_total", "ray_faber_tasks_finished_total",
        "ray_faber_queue_depth", "ray_faber_tasks_running", "ray_faber_task_wall_seconds_count",
        "ray_faber_sandbox_start_seconds_count", "ray_faber_node_sandbox_cpu_seconds",
        "ray_faber_node_sandbox_memory_bytes", "ray_faber_infra_retries_total",
    }

    def caught_up() -> dict[str, Any] | None:
        after = scrape(metrics_port)
        grown = total(after, "ray_faber_tasks_finished_total") - total(before, "ray_faber_tasks_finished_total")
        return after if expected <= set(after) and grown >= finished_now else None

    after = wait_until(caught_up, "the metrics to be exported", deadline=90, every=1.0)

    def delta(name: str, **tags: str) -> float:
        return total(after, name, **tags) - total(before, name, **tags)

    assert delta("ray_faber_tasks_submitted_total") >= 10
    assert delta("ray_faber_tasks_refused_total", reason="TaskValidationError") >= 1
    assert delta("ray_faber_tasks_finished_total", status="SUCCESS") >= 9
    assert delta("ray_faber_tasks_finished_total", status="FAILURE") >= 1
    assert delta("ray_faber_infra_retries_total") >= 1
    assert delta("ray_faber_task_wall_seconds_count") >= finished_now
    assert delta("ray_faber_task_wall_seconds_sum") > 0
    assert delta("ray_faber_sandbox_start_seconds_count") >= finished_now
    # Everything has finished: the gauges say so (once the next export has them).
    def settled() -> bool:
        now = scrape(metrics_port)
        return all(value == 0 for name in ("ray_faber_queue_depth", "ray_faber_tasks_running") for _, value in now[name])

    wait_until(settled, "the queue and running gauges to fall to zero", deadline=90, every=1.0)
    assert max(value for _, value in after["ray_faber_node_sandbox_cpu_seconds"]) > 0

    # Low cardinality: node tags are short ids, and no execution id appears anywhere.
    execution_ids = {r.execution_id for r in ok + failed + retried}
    for name, samples in after.items():
        for tags, _ in samples:
            assert set(tags) <= ALLOWED_TAGS, (name, tags)
            assert not execution_ids & set(tags.values()), name
            if "node" in tags:
                assert re.fullmatch(r"[0-9a-f]{8}|none", tags["node"]), (name, tags)
