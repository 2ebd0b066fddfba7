"""Membership: workers for a node that joins later, and a node removed mid-batch.

Every node removed here was added by this module, so the shared three-node
cluster survives.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import pytest
import ray
from actor_support import node_of_process, sleeper, sleeping, view, wait_no_containers, wait_until
from ray.cluster_utils import Cluster
from ray.util.state import list_actors

from faber_ray import Task, TaskStatus

CAP = 6


@pytest.fixture(scope="module")
def executor(make_executor: Any) -> Any:
    return make_executor(max_concurrent_tasks=CAP, worker_pool_size=1, max_infra_retries=1)


@pytest.fixture(scope="module")
def no_retry(make_executor: Any) -> Any:
    return make_executor(max_concurrent_tasks=CAP, worker_pool_size=1, max_infra_retries=0)


@pytest.fixture(scope="module")
def joined_node(ray_cluster: Cluster, executor: Any, no_retry: Any) -> Iterator[Any]:
    """A fourth node added after the executors started; removed at the end if a test has not."""
    node = add_node(ray_cluster, executor, no_retry)
    yield node
    if node.node_id in alive_nodes():
        ray_cluster.remove_node(node)


def alive_nodes() -> set[str]:
    return {n["NodeID"] for n in ray.nodes() if n["Alive"]}


def add_node(ray_cluster: Cluster, *executors: Any) -> Any:
    node = ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()
    for executor in executors:
        wait_until(lambda: node.node_id in view(executor)["nodes"], "workers on the node that joined")
    return node


def test_a_node_that_joins_later_gets_pinned_workers_and_work(executor: Any, joined_node: Any) -> None:
    node_id = joined_node.node_id
    workers = view(executor)["nodes"][node_id]["workers"]
    assert len(workers) == 1
    actors = {a.name: a for a in list_actors(filters=[("state", "=", "ALIVE")], limit=10_000)}
    assert actors[workers[0]["name"]].node_id == node_id

    # Least loaded node first: four tasks at once land on four different nodes.
    results = ray.get(executor.execute.remote([Task(command="sleep", args=["1"])] * 4))
    assert {r.status for r in results} == {TaskStatus.SUCCESS}
    assert len({r.node_id for r in results}) == 4
    assert node_id in {r.node_id for r in results}


def remove_mid_batch(ray_cluster: Cluster, executor: Any, node: Any, engine: docker.DockerClient) -> tuple[list[Any], set[str]]:
    """Submit a batch, remove ``node`` once it runs some of it; returns (refs, execution ids lost with the node)."""
    sleepers = [sleeper(15) for _ in range(CAP)]
    refs = ray.get(executor.submit.remote(sleepers))

    def settled() -> set[str]:
        # Every task placed on the node has its process running (so none is half-started).
        workers = view(executor)["nodes"].get(node.node_id, {}).get("workers", [])
        placed = {execution_id for worker in workers for execution_id in worker["tasks"]}
        there = {pid for pid in sleeping(sleepers) if node_of_process(engine, pid) == node.node_id}
        return placed if placed and len(there) == len(placed) else set()

    lost = wait_until(settled, "the node's tasks to run")
    ray_cluster.remove_node(node)
    return refs, lost


def test_node_removed_mid_batch_its_tasks_are_retried_elsewhere(
    ray_cluster: Cluster, executor: Any, joined_node: Any, engine: docker.DockerClient, base_node_ids: set[str]
) -> None:
    node_id = joined_node.node_id
    refs, lost = remove_mid_batch(ray_cluster, executor, joined_node, engine)
    results = ray.get(refs, timeout=180)  # no ref hangs

    for result in results:
        assert result.status is TaskStatus.SUCCESS, result.error
        assert result.attempts == (2 if result.execution_id in lost else 1)
        assert result.node_id in base_node_ids
    wait_until(lambda: node_id not in view(executor)["nodes"], "the removed node to leave cluster()")
    wait_no_containers(engine)
    assert ray.get(executor.execute.remote([Task(command="echo", args=["still"])]))[0].stdout == "still\n"


def test_node_removed_without_retries_left_its_tasks_end_in_error(
    ray_cluster: Cluster, executor: Any, no_retry: Any, engine: docker.DockerClient
) -> None:
    node = add_node(ray_cluster, executor, no_retry)
    refs, lost = remove_mid_batch(ray_cluster, no_retry, node, engine)
    results = ray.get(refs, timeout=180)

    for result in results:
        if result.execution_id in lost:
            assert (result.status, result.attempts) == (TaskStatus.ERROR, 1)
            assert f"on node {node.node_id[:8]} was lost" in result.error
            assert "no infrastructure retries left" in result.error
        else:
            assert (result.status, result.attempts) == (TaskStatus.SUCCESS, 1)
    wait_until(lambda: node.node_id not in view(no_retry)["nodes"], "the removed node to leave cluster()")
    wait_no_containers(engine)
