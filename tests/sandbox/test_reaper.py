"""Reaping orphaned sandboxes, against the real Docker engine.

The orphans are started by hand with the runner's labels, as a worker killed
mid-task would leave them. Every node id used here starts with the fixtures'
``sandbox_node_id``, so the leftover check covers them and nothing else on the
engine is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from faber_ray.sandbox.labels import LABEL, LABEL_EXECUTION_ID, LABEL_NODE_ID, LABEL_OWNER, LABEL_OWNER_PROCESS, owner_process
from faber_ray.sandbox.agent.listener import ChannelListener, channels_root
from faber_ray.sandbox.reaper import (
    list_sandboxes, maker_is_gone, reap_sandboxes, remove_stale_cgroups, remove_stale_channels,
)
from faber_ray.ids import new_execution_id

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")


@pytest.fixture
def node(sandbox_node_id: str, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``node("a")`` -> a node id unique to this test that the leftover check still covers."""
    return lambda suffix="": f"{sandbox_node_id}-{request.node.name}{suffix}"


@pytest.fixture
def start_orphan(
    docker_client: docker.DockerClient, sandbox_image: str, node: Callable[[str], str]
) -> Iterator[Callable[..., str]]:
    """Start a labelled ``sleep 60`` container by hand, as a worker killed mid-task would leave it."""
    started: list[str] = []

    def start(
        node_id: str | None = None, owner: str = "dead-worker", labelled: bool = True, maker: str = ""
    ) -> str:
        labels = {
            LABEL: "1",
            LABEL_EXECUTION_ID: new_execution_id(),
            LABEL_NODE_ID: node_id or node(""),
            LABEL_OWNER: owner,
            LABEL_OWNER_PROCESS: maker,
        }
        container = docker_client.containers.run(
            sandbox_image, ["sleep", "60"], detach=True, labels=labels if labelled else {}, network_mode="none"
        )
        started.append(container.id)
        return container.id

    yield start
    for container_id in started:  # only what a failed test left; the tests reap their own
        try:
            docker_client.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass


def exists(client: docker.DockerClient, container_id: str) -> bool:
    try:
        client.api.inspect_container(container_id)
    except docker.errors.NotFound:
        return False
    return True


def test_list_sandboxes_describes_orphans(
    docker_client: docker.DockerClient, start_orphan: Callable[..., str], node: Callable[[str], str]
) -> None:
    container_id = start_orphan(owner="w7")
    (box,) = list_sandboxes(docker_client, node(""))
    assert box["id"] == container_id
    assert (box["node_id"], box["owner"], box["state"]) == (node(""), "w7", "running")
    assert len(box["execution_id"]) == 32
    assert container_id in [item["id"] for item in list_sandboxes(docker_client)]
    assert list_sandboxes(docker_client, node("-nobody")) == []
    assert reap_sandboxes(docker_client, node("")) == 1


def test_list_sandboxes_includes_stopped_ones(
    docker_client: docker.DockerClient, start_orphan: Callable[..., str], node: Callable[[str], str]
) -> None:
    container_id = start_orphan()
    docker_client.api.kill(container_id)
    docker_client.api.wait(container_id, timeout=60)
    assert [(box["id"], box["state"]) for box in list_sandboxes(docker_client, node(""))] == [(container_id, "exited")]
    assert reap_sandboxes(docker_client, node("")) == 1
    assert not exists(docker_client, container_id)


def test_reap_removes_a_running_orphan(
    docker_client: docker.DockerClient, start_orphan: Callable[..., str], node: Callable[[str], str]
) -> None:
    container_id = start_orphan()
    assert reap_sandboxes(docker_client, node("")) == 1
    assert not exists(docker_client, container_id)
    assert list_sandboxes(docker_client, node("")) == []
    assert reap_sandboxes(docker_client, node("")) == 0


def test_reap_only_filter_leaves_others_alone(
    docker_client: docker.DockerClient, start_orphan: Callable[..., str], node: Callable[[str], str]
) -> None:
    dead = start_orphan(owner="dead-worker")
    alive = start_orphan(owner="live-worker")
    assert reap_sandboxes(docker_client, node(""), only=lambda box: box["owner"] == "dead-worker") == 1
    assert not exists(docker_client, dead)
    assert exists(docker_client, alive)
    assert [box["owner"] for box in list_sandboxes(docker_client, node(""))] == ["live-worker"]
    assert reap_sandboxes(docker_client, node("")) == 1
    assert not exists(docker_client, alive)


def test_reap_by_node_leaves_other_nodes_and_unlabelled_containers(
    docker_client: docker.DockerClient, start_orphan: Callable[..., str], node: Callable[[str], str]
) -> None:
    here = start_orphan(node_id=node("-a"))
    there = start_orphan(node_id=node("-b"))
    stranger = start_orphan(labelled=False)
    assert reap_sandboxes(docker_client, node("-a")) == 1
    assert not exists(docker_client, here)
    assert exists(docker_client, there)
    # No node given: every faber-ray container the filter accepts; the unlabelled one is never a candidate.
    assert reap_sandboxes(docker_client, only=lambda box: box["node_id"].startswith(node(""))) == 1
    assert not exists(docker_client, there)
    assert exists(docker_client, stranger)


def dead_process() -> str:
    """The ``<pid>:<start>`` label of a process that has exited (a short-lived child of ours)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    label = owner_process(child.pid)
    child.kill()
    child.wait()
    return label


def test_the_maker_of_a_container_is_known_alive_or_gone() -> None:
    assert not maker_is_gone({"owner_process": owner_process()})
    assert maker_is_gone({"owner_process": dead_process()})
    assert not maker_is_gone({"owner_process": ""})  # unlabelled: never judged
    # The same pid with another start time is another process: its maker is gone.
    assert maker_is_gone({"owner_process": f"{os.getpid()}:1"})


def test_reap_by_maker_removes_a_dead_processes_containers_and_spares_a_live_ones(
    docker_client: docker.DockerClient, start_orphan: Callable[..., str], node: Callable[[str], str]
) -> None:
    """What an interrupted `faber-ray run` or a cluster that is gone leaves: its maker no longer runs."""
    orphan = start_orphan(maker=dead_process())
    live = start_orphan(maker=owner_process())
    mine = lambda box: box["node_id"] == node("") and maker_is_gone(box)  # noqa: E731
    assert reap_sandboxes(docker_client, only=mine) == 1
    assert not exists(docker_client, orphan)
    assert exists(docker_client, live)
    assert reap_sandboxes(docker_client, node("")) == 1


def test_stale_cgroup_directories_are_removed_but_young_or_busy_ones_stay(tmp_path: Path) -> None:
    """On a fake v1 tree: empty leftovers below faber-ray/ go, deepest first; a busy one stays,
    and nothing younger than the threshold is touched."""
    root = tmp_path / "cgroup"
    top = root / "memory" / "faber-ray"
    (top / "gone-container" / "step-1").mkdir(parents=True)
    (root / "pids" / "faber-ray" / "other").mkdir(parents=True)
    (top / "busy").mkdir()
    (top / "busy" / "cgroup.procs").write_text("42\n")  # a plain directory with a file: rmdir fails, as for a busy cgroup
    assert remove_stale_cgroups(root, older_than=3600) == 0  # all of them are young
    assert (top / "gone-container" / "step-1").exists()
    assert remove_stale_cgroups(root, older_than=-1) == 3
    assert not (top / "gone-container").exists() and not (root / "pids" / "faber-ray" / "other").exists()
    assert (top / "busy").exists() and top.exists()


def test_channel_directories_of_a_killed_process_are_removed_and_live_ones_kept() -> None:
    """A process killed with SIGKILL never removes its channels' directories: the reaper does."""
    script = (
        "import sys, time\n"
        "from faber_ray.sandbox.agent.listener import ChannelListener, channels_root\n"
        "print(ChannelListener(channels_root()).directory, flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    theirs = Path(child.stdout.readline().strip())
    mine = ChannelListener(channels_root())
    try:
        assert theirs.is_dir() and theirs.parent == mine.directory.parent == channels_root()
        remove_stale_channels()
        assert theirs.is_dir(), "a live process's channel must be kept"
        child.kill()
        child.wait()
        assert remove_stale_channels() >= 1
        assert not theirs.exists() and mine.directory.is_dir()
    finally:
        mine.remove()
        child.kill()
