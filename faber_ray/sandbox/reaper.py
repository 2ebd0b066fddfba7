"""Remove sandboxes that a dead process left behind.

A worker killed with SIGKILL cannot clean up, and its containers keep
running; only their labels can find them again.
"""

from __future__ import annotations

import docker
import docker.errors

from faber_ray.sandbox.engine import docker_errors
from collections.abc import Callable

from faber_ray.sandbox.runner import LABEL, LABEL_EXECUTION_ID, LABEL_NODE_ID, LABEL_OWNER

__all__ = ["list_sandboxes", "reap_sandboxes"]


def list_sandboxes(client: docker.DockerClient, node_id: str | None = None) -> list[dict[str, str]]:
    """The faber-ray containers on this engine (of ``node_id`` only, if given), running or not."""
    labels = [LABEL] if node_id is None else [LABEL, f"{LABEL_NODE_ID}={node_id}"]
    with docker_errors(image="", runtime=None):
        found = client.api.containers(all=True, filters={"label": labels})
    return [
        {
            "id": item["Id"],
            "execution_id": item["Labels"].get(LABEL_EXECUTION_ID, ""),
            "node_id": item["Labels"].get(LABEL_NODE_ID, ""),
            "owner": item["Labels"].get(LABEL_OWNER, ""),
            "state": item["State"],
        }
        for item in found
    ]


def reap_sandboxes(
    client: docker.DockerClient,
    node_id: str | None = None,
    *,
    only: Callable[[dict[str, str]], bool] | None = None,
) -> int:
    """Force-remove faber-ray containers (of ``node_id`` only, if given, and only those
    ``only(sandbox)`` accepts, if given); returns how many were removed."""
    removed = 0
    for sandbox in list_sandboxes(client, node_id):
        if only is not None and not only(sandbox):
            continue
        try:
            client.api.remove_container(sandbox["id"], force=True)
            removed += 1
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            if error.status_code != 409:  # 409: another reaper (a sibling worker) is removing it already
                raise
    return removed
