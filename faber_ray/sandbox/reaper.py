"""Remove sandboxes, and their cgroups, that a dead process left behind.

Most leftovers clean themselves up: the agent exits when its owner's channel
closes and the engine then removes the container. What remains (a container
created but never started, a cgroup directory a crash left) is found by its
labels and removed here. A container is an orphan when the process that made
it is gone from this machine, which never holds for a live cluster's
containers, or when a caller's ``only`` says so.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from faber_ray.errors import SandboxError
from faber_ray.sandbox.cgroup import CGROUP_ROOT, cgroup_version
from faber_ray.sandbox.engine import docker_errors
from faber_ray.sandbox.agent.listener import channel_maker, channels_root
from faber_ray.sandbox.labels import (
    LABEL,
    LABEL_EXECUTION_ID,
    LABEL_MODE,
    LABEL_NODE_ID,
    LABEL_OWNER,
    LABEL_OWNER_PROCESS,
    owner_alive,
)

__all__ = [
    "engine_is_local", "list_sandboxes", "maker_is_gone", "reap_sandboxes", "remove_stale_cgroups",
    "remove_stale_channels",
]

#: A cgroup directory younger than this may belong to a run that is just starting.
STALE_CGROUP_SECONDS = 60.0
#: A channel directory that names no maker may belong to a container still starting until this old.
STALE_CHANNEL_SECONDS = 300.0


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
            "owner_process": item["Labels"].get(LABEL_OWNER_PROCESS, ""),
            "mode": item["Labels"].get(LABEL_MODE, ""),
            "state": item["State"],
        }
        for item in found
    ]


def engine_is_local(client: docker.DockerClient) -> bool:
    """Whether the engine runs on this machine (a unix socket), so its containers' makers are in our /proc."""
    return str(client.api.base_url).startswith("http+docker://")


def maker_is_gone(sandbox: dict[str, str]) -> bool:
    """True when the process that made the container no longer runs on this machine."""
    return bool(sandbox.get("owner_process")) and not owner_alive(sandbox["owner_process"])


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
            client.api.remove_container(sandbox["id"], force=True, v=True)
            removed += 1
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            if error.status_code != 409:  # 409: the engine (or a sibling reaper) is removing it already
                raise SandboxError(
                    f"could not remove the orphaned sandbox {sandbox['id'][:12]}: {error.explanation or error}"
                ) from None
    remove_stale_cgroups()
    remove_stale_channels()
    return removed


def remove_stale_channels(root: Path | None = None, older_than: float = STALE_CHANNEL_SECONDS) -> int:
    """Remove the channel directories (``sandbox/agent/listener.py``) whose making process is gone from this
    machine: a process killed with SIGKILL never removes its own. A name that records no maker (made
    by an older faber-ray) goes once it is older than ``older_than``. Only faber-ray's private
    directory is walked, and nothing in it is followed (``rmtree`` does not follow links)."""
    root = root or channels_root()
    removed, now = 0, time.time()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for entry in entries:
        maker = channel_maker(entry.name)
        try:
            stale = not owner_alive(maker) if maker else now - entry.stat(follow_symlinks=False).st_mtime > older_than
        except OSError:
            continue
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


def remove_stale_cgroups(root: Path = CGROUP_ROOT, older_than: float = STALE_CGROUP_SECONDS) -> int:
    """Remove empty cgroup directories under ``faber-ray/`` left by containers that are gone.

    A directory that still holds a process cannot be removed (the kernel refuses),
    and one younger than ``older_than`` is left alone, so a live run is never touched.
    """
    tops = [root / "faber-ray"] if cgroup_version(root) == 2 else [
        controller / "faber-ray" for controller in root.iterdir() if (controller / "faber-ray").is_dir()
    ]
    removed, now = 0, time.time()
    for top in tops:
        for directory, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
            path = Path(directory)
            if path == top:
                continue
            try:
                if now - path.stat().st_ctime < older_than:
                    continue
                path.rmdir()
                removed += 1
            except OSError:
                pass  # busy (a process is in it), or removed by someone else
    return removed
