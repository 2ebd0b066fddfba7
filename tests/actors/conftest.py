"""Ray fixtures for the actor runtime tests.

One 3-node ``ray.cluster_utils.Cluster`` (``ray_cluster``, in tests/conftest.py) serves the whole session (it costs
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
from actor_support import shut_down
from ray.cluster_utils import Cluster

from faber_ray import ExecutorConfig, TaskExecutor



def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes minutes (the 1,000-task run)")


# ---------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------


# ``metrics_port`` and ``ray_cluster`` are in tests/conftest.py: the HTTP tests share the cluster.


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
