"""Shared fixtures, one section per layer.

* Sandbox (no Ray): the real Docker engine, the default image, ``SandboxRunner``
  factories and the ``no_leftover_sandboxes`` check. Nothing mocks the engine.
  Test modules that start containers opt in with
  ``pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")``.
* Ray: the session's one 3-node cluster (``ray_cluster``), shared by the actor
  and the HTTP tests; the actor tests' own fixtures are in tests/actors/conftest.py.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest
import ray
from cli_support import free_port
from sandbox_support import TEST_NODE_ID
from ray.cluster_utils import Cluster

from faber_ray.config import ExecutorConfig
from faber_ray.sandbox.engine import connect
from faber_ray.images.image import ensure_image
from faber_ray.sandbox.reaper import list_sandboxes, reap_sandboxes
from faber_ray.sandbox.runner import SandboxRunner

# A suite started in the background (`bash scripts/test &`, nohup, a runner that backgrounds it) inherits
# SIGINT ignored, and a process keeps an inherited ignore across exec: the CLI processes the tests start
# would then never see the SIGINT their Ctrl-C tests send. A handler of our own (unlike an ignore) is
# reset to the default at exec, so every child starts with SIGINT at its default whatever started the suite.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# ---------------------------------------------------------------------------
# Sandbox (Docker, no Ray)
# ---------------------------------------------------------------------------

TEST_OWNER = "test-owner"


def _ours(sandbox: dict[str, str]) -> bool:
    """True for containers the tests started (node ids ``test-node*``), so sandboxes
    of anything else sharing the engine are neither counted nor reaped."""
    return sandbox["node_id"].startswith(TEST_NODE_ID)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """One client for the real engine; the session fails loudly if none answers."""
    client = connect()
    yield client
    client.close()


@pytest.fixture(scope="session")
def sandbox_node_id() -> str:
    """The node id of the fixtures' runners; tests that label containers by hand use ids starting with it."""
    return TEST_NODE_ID


@pytest.fixture(scope="session")
def sandbox_image(docker_client: docker.DockerClient) -> str:
    """The default sandbox image, built if missing (a no-op when it exists)."""
    ensure_image(docker_client)
    return ExecutorConfig().default_image


@pytest.fixture(scope="session")
def runsc(docker_client: docker.DockerClient) -> None:
    """gVisor tests skip without runsc, except where it must be there (CI: FABER_RAY_REQUIRE_GVISOR=1)."""
    if "runsc" not in (docker_client.info().get("Runtimes") or {}):
        if os.environ.get("FABER_RAY_REQUIRE_GVISOR") == "1":
            pytest.fail("FABER_RAY_REQUIRE_GVISOR=1, but the Docker engine has no 'runsc' runtime")
        pytest.skip("the Docker engine has no 'runsc' runtime (gVisor is not installed)")


@pytest.fixture(scope="module", params=["warm", "fresh"])
def sandbox_mode(request: pytest.FixtureRequest) -> str:
    """Every test of the sandbox layer runs in both modes (module by module)."""
    return str(request.param)


_RUNNERS: list[SandboxRunner] = []


@pytest.fixture(scope="module")
def make_runner(
    docker_client: docker.DockerClient, sandbox_image: str, sandbox_mode: str
) -> Iterator[Callable[..., SandboxRunner]]:
    """Build a runner from ``ExecutorConfig`` keyword arguments, in this module's sandbox mode."""
    made: list[SandboxRunner] = []

    def make(**config: Any) -> SandboxRunner:
        config.setdefault("sandbox_mode", sandbox_mode)
        runner = SandboxRunner(ExecutorConfig(**config), node_id=TEST_NODE_ID, owner=TEST_OWNER, client=docker_client)
        made.append(runner)
        _RUNNERS.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()
        _RUNNERS.remove(runner)


@pytest.fixture(scope="module")
def runner(make_runner: Callable[..., SandboxRunner]) -> SandboxRunner:
    """A runner with the default config, shared by a module's tests."""
    return make_runner()


@pytest.fixture
def no_leftover_sandboxes(docker_client: docker.DockerClient) -> Iterator[None]:
    """Fail a test that leaves a ``faber-ray`` container (of a test node) behind.

    A fresh run removes its container before it returns; warm containers are
    kept for reuse, so every runner's idle ones are drained first (as
    ``close`` does at shutdown), and then nothing of ours may be left. The
    check runs at once, without waiting. Leftovers are reaped after the check
    so one failure does not cascade into the next tests.
    """
    yield
    for made in _RUNNERS:
        made.drain_idle()
    left = [box for box in list_sandboxes(docker_client) if _ours(box)]
    if left:
        reap_sandboxes(docker_client, only=_ours)
    assert left == [], f"faber-ray containers left behind: {left}"


# ---------------------------------------------------------------------------
# Ray (the actor and the HTTP tests share one cluster)
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
