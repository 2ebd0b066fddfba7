"""The default sandbox image, checked in the real Docker engine.

ensure_image is a no-op when the image is already there (scripts/setup builds
it), so these tests cost seconds; on a bare engine the first one builds it.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from faber_ray.config import DEFAULT_IMAGE
from faber_ray.sandbox.image import IMAGE_LABEL, SANDBOX_UID, ensure_image, image_exists


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    """An engine client with the default image present."""
    engine = docker.from_env()
    ensure_image(engine)
    yield engine
    engine.close()


def run(client: docker.DockerClient, *command: str) -> str:
    """Run ``command`` in a throwaway container of the default image; return stdout."""
    out = client.containers.run(DEFAULT_IMAGE, list(command), remove=True, network_disabled=True)
    return out.decode().strip()


def test_image_exists_after_ensure(client: docker.DockerClient) -> None:
    assert image_exists(client)
    assert client.images.get(DEFAULT_IMAGE).labels.get(IMAGE_LABEL) == "1"


def test_ensure_image_is_noop_when_present(client: docker.DockerClient) -> None:
    assert ensure_image(client) is False


def test_image_exists_is_false_for_unknown_name(client: docker.DockerClient) -> None:
    assert not image_exists(client, "faber-ray/no-such-image:0")


def test_runs_as_unprivileged_sandbox_user(client: docker.DockerClient) -> None:
    assert run(client, "id", "-u") == str(SANDBOX_UID)
    assert run(client, "id", "-un") == "sandbox"


def test_python_and_its_alias_work(client: docker.DockerClient) -> None:
    assert run(client, "python", "--version").startswith("Python 3.")
    assert run(client, "python3", "-c", "print(1)") == "1"


def test_workdir_is_writable_work(client: docker.DockerClient) -> None:
    assert run(client, "sh", "-c", "touch probe && pwd") == "/work"


@pytest.mark.parametrize("tool", ["sh", "cat", "cp", "ls"])
def test_basic_tools_exist(client: docker.DockerClient, tool: str) -> None:
    assert run(client, "sh", "-c", f"command -v {tool}").endswith(f"/{tool}")
