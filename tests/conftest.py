"""Shared fixtures, one section per layer.

* Sandbox (no Ray): the real Docker engine, the default image, ``SandboxRunner``
  factories and the ``no_leftover_sandboxes`` check. Nothing mocks the engine.
  Test modules that start containers opt in with
  ``pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from faber_ray.config import ExecutorConfig
from faber_ray.sandbox.engine import connect
from faber_ray.sandbox.image import ensure_image
from faber_ray.sandbox.reaper import list_sandboxes, reap_sandboxes
from faber_ray.sandbox.runner import SandboxRunner

# ---------------------------------------------------------------------------
# Sandbox (Docker, no Ray)
# ---------------------------------------------------------------------------

#: node_id the sandbox fixtures' runners stamp on their containers and results. It is
#: unique per pytest process, so two test runs sharing one engine never count (or
#: reap) each other's containers.
TEST_NODE_ID = f"test-node-{os.getpid()}"
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
def sandbox_staging_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the fixtures' runners stage task files; it must be empty after every run."""
    return tmp_path_factory.mktemp("staging")


@pytest.fixture(scope="module")
def make_runner(
    docker_client: docker.DockerClient, sandbox_image: str, sandbox_staging_root: Path
) -> Callable[..., SandboxRunner]:
    """Build a runner from ``ExecutorConfig`` keyword arguments (for non-default configs)."""

    def make(**config: Any) -> SandboxRunner:
        return SandboxRunner(
            ExecutorConfig(**config),
            node_id=TEST_NODE_ID,
            owner=TEST_OWNER,
            client=docker_client,
            staging_root=sandbox_staging_root,
        )

    return make


@pytest.fixture(scope="module")
def runner(make_runner: Callable[..., SandboxRunner]) -> SandboxRunner:
    """A runner with the default config, shared by a module's tests."""
    return make_runner()


@pytest.fixture
def no_leftover_sandboxes(docker_client: docker.DockerClient, sandbox_staging_root: Path) -> Iterator[None]:
    """Fail a test that leaves a ``faber-ray`` container (of a test node) or a staging directory behind.

    ``SandboxRunner.run`` removes its container before it returns, so the check
    runs at once, without waiting. Leftovers are reaped after the check so one
    failure does not cascade into the next tests.
    """
    yield
    left = [box for box in list_sandboxes(docker_client) if _ours(box)]
    staged = sorted(path.name for path in sandbox_staging_root.iterdir())
    if left:
        reap_sandboxes(docker_client, only=_ours)
    for name in staged:
        shutil.rmtree(sandbox_staging_root / name, ignore_errors=True)
    assert left == [], f"faber-ray containers left behind: {left}"
    assert staged == [], f"staging directories left behind: {staged}"
