"""What a sandbox container is asked to be: the hardening and the limits, as plain data.

Kept apart from the runner so the security settings can be read in one
place and checked without a Docker engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.types

from faber_ray.config import ExecutorConfig, ResolvedLimits
from faber_ray.models import Task

__all__ = ["SHM_BYTES", "STAGING_MOUNT", "ContainerSpec", "container_spec"]

#: Where a task's staged files are mounted, read-only, before the copy into the workdir.
STAGING_MOUNT = "/.faber-ray-files"
SHM_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ContainerSpec:
    """Arguments for ``APIClient.create_host_config`` and ``APIClient.create_container``."""

    host: dict[str, Any] = field(default_factory=dict)
    container: dict[str, Any] = field(default_factory=dict)


def container_spec(
    task: Task,
    limits: ResolvedLimits,
    config: ExecutorConfig,
    *,
    labels: dict[str, str],
    staging: Path | None = None,
    cgroup_parent: str | None = None,
) -> ContainerSpec:
    """The locked-down container for ``task``: no network unless asked and allowed, a
    read-only root with size-limited tmpfs mounts, no capabilities, no new privileges,
    a non-root user, and every limit the kernel can hold it to."""
    command = task.argv()
    mounts: list[docker.types.Mount] = []
    if staging is not None:
        # The root is read-only and the workdir tmpfs exists only once started, so
        # the container's first step copies the staged files in, then becomes the task.
        mounts.append(docker.types.Mount(STAGING_MOUNT, str(staging), type="bind", read_only=True))
        command = ["/bin/sh", "-c", f'cp -R {STAGING_MOUNT}/. . && exec "$@"', "faber-ray", *command]
    tmpfs_options = f"rw,nosuid,nodev,exec,size={limits.disk},mode=1777"
    cpu_backstop = math.ceil(limits.cpu_time) + 1
    # gVisor's Sentry runs as host threads of the container, so a small pids limit
    # kills the sandbox itself; there RLIMIT_NPROC (which gVisor counts per
    # sandbox) caps the processes instead.
    gvisor = config.runtime == "runsc"
    ulimits = [
        docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
        docker.types.Ulimit(name="fsize", soft=limits.disk, hard=limits.disk),
        docker.types.Ulimit(name="core", soft=0, hard=0),
        docker.types.Ulimit(name="cpu", soft=cpu_backstop, hard=cpu_backstop + 1),
    ]
    if gvisor:
        ulimits.append(docker.types.Ulimit(name="nproc", soft=limits.max_processes, hard=limits.max_processes))
    host = {
        "network_mode": "bridge" if task.network else "none",
        "read_only": True,
        "tmpfs": {config.work_dir: tmpfs_options, "/tmp": tmpfs_options},
        "mounts": mounts or None,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": None if gvisor else limits.max_processes,
        "mem_limit": limits.memory,
        "memswap_limit": limits.memory,
        "nano_cpus": int(config.sandbox_cpus * 1e9),
        "ulimits": ulimits,
        "runtime": config.runtime,
        "cgroup_parent": cgroup_parent,
        # Output is streamed over the attach socket and capped there; nothing
        # goes through a log file.
        "log_config": docker.types.LogConfig(type="none"),
        "shm_size": SHM_BYTES,
    }
    container = {
        "command": command,
        "user": config.sandbox_user,
        "working_dir": config.work_dir,
        "environment": {"HOME": config.work_dir, **(task.env or {})},
        "hostname": "sandbox",
        "stdin_open": True,  # with detach=False, docker-py also sets StdinOnce: EOF closes stdin
        "tty": False,
        "network_disabled": not task.network,
        "labels": labels,
    }
    return ContainerSpec(host=host, container=container)
