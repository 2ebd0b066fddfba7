"""The image recipes, and the images themselves in the real Docker engine.

ensure_image is a no-op when an image is already there and current
(scripts/test builds them all), so these tests cost seconds; on a bare engine
the first one builds them. The rebuild tests use a throwaway image of their
own, so the images other test runs use are never touched.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
from collections.abc import Iterator

import docker
import pytest

from faber_ray.config import DEFAULT_IMAGE
from faber_ray.errors import SandboxError
from faber_ray.images.image import (
    IMAGE_LABEL,
    SANDBOX_UID,
    cache_dir,
    ensure_image,
    ensure_images,
    image_exists,
    image_state,
)
from faber_ray.images.recipes import PACKAGES_LABEL, RECIPE_LABEL, RECIPES, Recipe, recipe


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


# The recipe table, without an engine ----------------------------------------------------


@pytest.mark.parametrize("item", list(RECIPES.values()), ids=list(RECIPES))
def test_every_recipe_is_a_faber_ray_image_with_packages(item: Recipe) -> None:
    assert re.fullmatch(r"faber-ray/[a-z0-9-]+:[0-9.]+", item.name)
    assert item.packages and item.summary
    assert item.environment()["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert item.environment()["LANG"] == "C.UTF-8"


def test_the_default_image_has_python_pytest_and_the_python_alias() -> None:
    default = recipe(DEFAULT_IMAGE)
    assert {"python3", "python3-pytest"} <= set(default.packages)
    assert ("/usr/local/bin/python", "/usr/bin/python3") in default.links


def test_the_go_image_builds_offline_on_a_read_only_root() -> None:
    env = recipe("faber-ray/go:1.19").environment()
    assert env["GOCACHE"].startswith("/tmp/") and env["GOPATH"].startswith("/tmp/")
    assert env["GOPROXY"] == "off"


def test_a_recipes_digest_follows_what_decides_the_content() -> None:
    gcc = recipe("faber-ray/gcc:12")
    assert gcc.digest == recipe("faber-ray/gcc:12").digest
    assert re.fullmatch(r"[0-9a-f]{12}", gcc.digest)
    assert dataclasses.replace(gcc, packages=(*gcc.packages, "make")).digest != gcc.digest
    assert dataclasses.replace(gcc, env=(("CC", "gcc"),)).digest != gcc.digest
    assert dataclasses.replace(gcc, links=(("/usr/local/bin/cc", "/usr/bin/gcc"),)).digest != gcc.digest
    assert dataclasses.replace(gcc, summary="words only").digest == gcc.digest
    assert len({item.digest for item in RECIPES.values()}) == len(RECIPES)


def test_import_changes_set_the_user_workdir_env_and_labels() -> None:
    go = recipe("faber-ray/go:1.19")
    changes = go.changes("golang-go=2:1.19~1")
    assert changes[:2] == ["USER sandbox", "WORKDIR /work"]
    assert "ENV GOPROXY=off" in changes
    assert f'LABEL {RECIPE_LABEL}="{go.digest}"' in changes
    assert f'LABEL {IMAGE_LABEL}="1"' in changes
    assert f'LABEL {PACKAGES_LABEL}="golang-go=2:1.19~1"' in changes


def test_the_dockerfile_builds_the_same_recipe() -> None:
    text = recipe("faber-ray/java:17").dockerfile()
    assert text.splitlines()[1] == "FROM debian:bookworm-slim"
    assert "--no-install-recommends openjdk-17-jdk-headless" in text
    assert f"install -d -o {SANDBOX_UID} -g {SANDBOX_UID} -m 1777 /work" in text
    assert f'LABEL {RECIPE_LABEL}="{recipe("faber-ray/java:17").digest}"' in text


def test_an_image_without_a_recipe_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(SandboxError) as caught:
        recipe("faber-ray/cobol:85")
    assert "faber-ray/cobol:85" in caught.value.reason
    assert all(name in caught.value.reason for name in RECIPES)


# ensure against the engine ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_image_is_current_user_10001_with_workdir_work(client: docker.DockerClient, name: str) -> None:
    ensure_images(client, [name])
    state = image_state(client, name)
    assert state.present and state.current and state.size > 0
    config = client.images.get(name).attrs["Config"]
    assert (config["User"], config["WorkingDir"]) == ("sandbox", "/work")
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in config["Env"]
    assert all(package.split("=")[0] in recipe(name).packages for package in state.packages.split())


def test_ensure_does_not_rebuild_an_up_to_date_image(client: docker.DockerClient) -> None:
    before = client.images.get(DEFAULT_IMAGE).id
    assert ensure_images(client, list(RECIPES)) == []
    assert client.images.get(DEFAULT_IMAGE).id == before


@pytest.fixture
def throwaway(client: docker.DockerClient) -> Iterator[Recipe]:
    """A recipe of its own name, without packages (so building it needs no mirror), removed afterwards."""
    item = Recipe(
        f"faber-ray/test-throwaway:{os.getpid()}", (), "a throwaway for the tests",
        links=(("/usr/local/bin/say-hello", "/bin/echo"),),
    )
    yield item
    try:
        client.images.remove(item.name, force=True)
    except docker.errors.ImageNotFound:
        pass
    for cached in cache_dir().glob(f"image-{item.slug}-*"):
        cached.unlink()


def test_a_stale_recipe_label_triggers_a_rebuild(client: docker.DockerClient, throwaway: Recipe) -> None:
    if os.geteuid() != 0:
        pytest.skip("building an image needs root")
    stale = f"FROM {DEFAULT_IMAGE}\nLABEL {RECIPE_LABEL}=stale\n".encode()
    client.images.build(fileobj=io.BytesIO(stale), tag=throwaway.name, pull=False, rm=True)
    assert image_state(client, throwaway).present and not image_state(client, throwaway).current
    lines: list[str] = []
    assert ensure_image(client, throwaway, progress=lines.append) is True
    assert any("stale" in line for line in lines)
    assert image_state(client, throwaway).current
    out = client.containers.run(throwaway.name, ["say-hello", "hi"], remove=True, network_disabled=True)
    assert out == b"hi\n"
    rebuilt = client.images.get(throwaway.name).id
    assert ensure_image(client, throwaway) is False
    assert client.images.get(throwaway.name).id == rebuilt


def test_a_missing_image_comes_back_from_the_cached_root_filesystem(
    client: docker.DockerClient, throwaway: Recipe
) -> None:
    if os.geteuid() != 0:
        pytest.skip("building an image needs root")
    assert ensure_image(client, throwaway) is True
    client.images.remove(throwaway.name, force=True)
    lines: list[str] = []
    assert ensure_image(client, throwaway, progress=lines.append) is True
    assert any("reusing cached root filesystem" in line for line in lines)
    assert not any("debootstrap" in line or "apt-get" in line for line in lines)
    assert image_state(client, throwaway).current
