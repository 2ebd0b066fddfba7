"""Ray fixtures for the actor runtime tests.

One 3-node ``ray.cluster_utils.Cluster`` serves the whole session (it costs
~10 s to start). Tests that remove a node add one of their own first, so the
shared cluster keeps its three. Executors are module-scoped; their teardown
calls ``shutdown()`` and checks that no ``faber-ray`` container is left.

Token authentication stays on (Ray's default): nothing here touches it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest
import ray
from actor_support import free_port, shut_down
from ray.cluster_utils import Cluster

from faber_ray import ExecutorConfig, TaskExecutor



def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes minutes (the 1,000-task run)")


# ---------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def metrics_port() -> int:
    """The head node's Prometheus metrics port (for a metrics test)."""
    return free_port()


@pytest.fixture(scope="session")
def ray_cluster(metrics_port: int) -> Iterator[Cluster]:
    """Head plus two workers, each with one CPU; node death is noticed within ~1.5 s."""
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "metrics_export_port": metrics_port,
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3},
        },
    )
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    cluster.base_node_ids = {node["NodeID"] for node in ray.nodes() if node["Alive"]}  # type: ignore[attr-defined]
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="session")
def head_node_id(ray_cluster: Cluster) -> str:
    return ray.get_runtime_context().get_node_id()


@pytest.fixture(scope="session")
def base_node_ids(ray_cluster: Cluster) -> set[str]:
    """The three nodes every test can count on (not those a test adds)."""
    ids: set[str] = ray_cluster.base_node_ids  # type: ignore[attr-defined]
    assert len(ids) == 3
    return ids


# ---------------------------------------------------------------------------
# Docker
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


# ---------------------------------------------------------------------------
# Executors
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def make_executor(
    ray_cluster: Cluster, engine: docker.DockerClient, sandbox_mode: str
) -> Iterator[Callable[..., Any]]:
    """Build executors for this module (``make_executor(name=None, **config)``), in the module's
    sandbox mode (every module runs in both); all are shut down at its end."""
    made: list[Any] = []

    def make(name: str | None = None, **config: Any) -> Any:
        cls = TaskExecutor.options(name=name) if name else TaskExecutor
        config.setdefault("sandbox_mode", sandbox_mode)
        executor = cls.remote(ExecutorConfig(**config))
        made.append(executor)
        ray.get(executor.cluster.remote())  # started: every worker is ready
        return executor

    yield make
    errors = []
    for executor in made:
        try:
            shut_down(executor, engine)
        except Exception as error:  # noqa: BLE001 - shut the others down too
            errors.append(error)
    if errors:
        raise errors[0]
