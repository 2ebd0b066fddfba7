"""Helpers for the actor tests: polling with a deadline, Docker views, executor views."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import docker
import pytest
import ray
from cli_support import free_port, poll  # noqa: F401 - free_port is used from here

from faber_ray.sandbox.runner import LABEL, LABEL_NODE_ID, LABEL_OWNER

#: Upper bound for anything that happens asynchronously (reaping after a worker
#: death, a node joining, a replacement worker). Polls end as soon as the
#: condition holds; the bound only turns a hang into a failure.
DEADLINE = 60.0


def wait_until(condition: Callable[[], Any], what: str, deadline: float = DEADLINE, every: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``deadline`` seconds."""
    return poll(condition, what, deadline, every)


def cluster_containers(engine: docker.DockerClient) -> list[dict[str, Any]]:
    """``faber-ray`` containers (any state) started by any node of this Ray cluster, dead or alive.

    Other tests share the engine (the sandbox tests label theirs ``test-node``);
    they are none of ours.
    """
    ours = {node["NodeID"] for node in ray.nodes()}
    found = engine.api.containers(all=True, filters={"label": [LABEL]})
    return [box for box in found if box["Labels"].get(LABEL_NODE_ID) in ours]


def wait_no_containers(engine: docker.DockerClient, deadline: float = DEADLINE) -> None:
    """Wait for the asynchronous reaping after a fault; fail if containers outlive ``deadline``."""
    end = time.monotonic() + deadline
    while True:
        left = cluster_containers(engine)
        if not left:
            return
        if time.monotonic() > end:
            pytest.fail(
                "faber-ray containers left behind: "
                + ", ".join(f"{box['Id'][:12]} owner={box['Labels'].get(LABEL_OWNER)}" for box in left)
            )
        time.sleep(0.25)


def shut_down(executor: Any, engine: docker.DockerClient) -> None:
    """``shutdown()`` must leave no container: checked at once, no waiting."""
    try:
        ray.get(executor.shutdown.remote(), timeout=120)
    finally:
        left = cluster_containers(engine)
        ray.kill(executor, no_restart=True)
        for box in left:  # do not cascade into the next module
            engine.api.remove_container(box["Id"], force=True)
    assert left == [], f"shutdown() left containers: {[box['Id'][:12] for box in left]}"


def stats(executor: Any) -> Any:
    return ray.get(executor.stats.remote())


def view(executor: Any) -> dict[str, Any]:
    return ray.get(executor.cluster.remote())


def worker_names(executor: Any) -> dict[str, str]:
    """Worker name -> node id, as the executor's cluster() reports them."""
    return {
        worker["name"]: node_id
        for node_id, node in view(executor)["nodes"].items()
        for worker in node["workers"]
    }
