"""What a sandbox container is asked to be: the hardening and the outer limits, as plain data.

Kept apart from the runner so the security settings can be read in one
place and checked without a Docker engine. Every container runs the agent
(``agent/``) as PID 1; a task's own limits are applied per task, on a cgroup
of its own (see ``cgroup.py``), so the container's limits are an outer bound
that also covers the agent and the files earlier steps left.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.types

from faber_ray.config import ExecutorConfig, ResolvedLimits
from faber_ray.judging.cases import Checker
from faber_ray.languages import helper_limits
from faber_ray.models import Task
from faber_ray.steps import runs_of
from faber_ray.sandbox.agent.build import AGENT_MOUNT
from faber_ray.sandbox.agent.listener import CHANNEL_MOUNT
from faber_ray.sandbox.seccomp import profile_json

__all__ = [
    "AGENT_ALLOWANCE",
    "GVISOR_AGENT_CAPABILITIES",
    "GVISOR_AGENT_USER",
    "SHM_BYTES",
    "ContainerSpec",
    "SandboxProfile",
    "container_spec",
    "gvisor_host_tasks",
    "host_pids",
    "node_pid_budget",
    "outer_memory",
    "task_memory",
    "task_pids",
    "tmpfs_inodes",
]

SHM_BYTES = 16 * 1024 * 1024
#: Memory the agent (a static binary, well under 2 MiB resident) and its buffers may use beside the task.
AGENT_ALLOWANCE = 32 * 1024 * 1024
#: Processes the agent and a waiting stub add to a container beside the task's own.
AGENT_PROCESSES = 4
#: Under gVisor every guest process costs several host tasks (Sentry threads, systrap stubs):
#: measured about 7 per process, plus about 45 for an idle sandbox.
GVISOR_BASE_TASKS = 64
#: The name every sandbox uid goes by (the images' one account, uid 10001, is called so).
SANDBOX_NAME = "sandbox"
#: Under gVisor the agent runs as root of gVisor's own kernel, with only these capabilities (see container_spec).
GVISOR_AGENT_USER = "0:0"
GVISOR_AGENT_CAPABILITIES = ["SETUID", "SETGID", "KILL"]
GVISOR_TASKS_PER_PROCESS = 8


@dataclass(frozen=True)
class SandboxProfile:
    """What a container is made with and keeps: a warm container serves only tasks of its profile."""

    image: str
    disk: int
    network: bool
    volumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerSpec:
    """Arguments for ``APIClient.create_host_config`` and ``APIClient.create_container``."""

    host: dict[str, Any] = field(default_factory=dict)
    container: dict[str, Any] = field(default_factory=dict)
    writable: tuple[str, ...] = ()


def tmpfs_inodes(disk: int) -> int:
    """Inodes per writable mount: a task may not pin the kernel's inodes beyond its disk's worth."""
    return max(1024, min(disk // 4096, 1 << 20))


def outer_memory(memory: int, disk: int, mounts: int) -> int:
    """The container's bound: the task's memory, the files its writable mounts can hold, and the agent."""
    return memory + disk * mounts + SHM_BYTES + AGENT_ALLOWANCE


def gvisor_host_tasks(max_processes: int) -> int:
    """The host pids limit of a gVisor sandbox: the guest's own cap is RLIMIT_NPROC, this bounds the host.
    At the ceiling of 4,096 processes that is 32,832, more than a whole host may have: it is further
    bounded by the node's budget (``host_pids``)."""
    return GVISOR_BASE_TASKS + GVISOR_TASKS_PER_PROCESS * max_processes


def _read_number(path: str, default: int) -> int:
    try:
        with open(path) as source:
            return int(source.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


@functools.lru_cache(maxsize=1)
def node_pid_budget() -> int:
    """Host pids (kernel tasks: processes and threads) this node's sandboxes may hold together.

    What ``pid_max`` and ``threads-max`` allow, less what the host used when this was first asked
    (the tasks counted in ``/proc/loadavg``), less a tenth (at least 1,024) kept for the host to grow.
    ``ExecutorConfig.node_sandbox_pids`` overrides it.
    """
    limit = min(_read_number("/proc/sys/kernel/pid_max", 32768), _read_number("/proc/sys/kernel/threads-max", 1 << 22))
    try:
        with open("/proc/loadavg") as loadavg:
            in_use = int(loadavg.read().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError):
        in_use = limit // 10
    return max(AGENT_PROCESSES + 1, limit - in_use - max(1024, limit // 10))


def host_pids(max_processes: int, *, gvisor: bool, budget: int | None = None) -> int:
    """The host pids one sandbox may hold: its processes and the agent's under runc; under gVisor the
    Sentry's tasks for that many guest processes, bounded by the node's budget."""
    if not gvisor:
        return max_processes + AGENT_PROCESSES
    return min(gvisor_host_tasks(max_processes), budget if budget is not None else node_pid_budget())


def _sandbox_limits(task: Task, config: ExecutorConfig) -> list[list[ResolvedLimits]]:
    """The limits of every sandbox ``task`` may hold at once: its own (one entry per run) and, when it
    is judged, its custom checker's and its interactor's, which live beside the program's."""
    boxes = [[run.limits for run in runs_of(task, config)]]
    judging = task.judging
    if judging is not None:
        for helper in (judging.checker, judging.interactor):
            if isinstance(helper, Checker):
                boxes.append([limits for limits in helper_limits(helper, config) if limits is not None])
    return boxes


def task_memory(task: Task, config: ExecutorConfig) -> int:
    """What admission reserves of a node's memory for ``task``: the largest run of each sandbox it
    may hold at once, summed."""
    return sum(max(limits.memory for limits in box) for box in _sandbox_limits(task, config))


def task_pids(task: Task, config: ExecutorConfig) -> int:
    """What admission reserves of a node's pid budget for ``task``: each of its sandboxes' host pids
    at its largest run, summed (the ledger clips it to the node's budget, as ``host_pids`` bounds
    each container)."""
    most = [max(limits.max_processes for limits in box) for box in _sandbox_limits(task, config)]
    if config.runtime == "runsc":
        return sum(gvisor_host_tasks(processes) for processes in most)
    return sum(processes + AGENT_PROCESSES for processes in most)


def container_spec(
    profile: SandboxProfile,
    config: ExecutorConfig,
    *,
    agent: Path,
    labels: dict[str, str],
    memory: int,
    max_processes: int,
    cgroup_parent: str | None = None,
    channel: Path | None = None,
    user: str | None = None,
) -> ContainerSpec:
    """The locked-down container: no network unless asked and allowed, a read-only root with
    size-limited tmpfs mounts (image volumes included, so no volume ever reaches the host's disk),
    no capabilities, no new privileges, faber-ray's seccomp profile, a non-root user.

    ``user`` is the container's own ``uid:gid`` (leased from ``uids.HostUids``; default
    ``sandbox_user``). Under gVisor the agent is root *inside gVisor's kernel*, with only the
    capabilities to become the task's user (SETUID, SETGID) and to kill its processes (KILL), and
    each stub drops to ``user`` before anything of the task runs: gVisor does not honour
    PR_SET_DUMPABLE for ``/proc/1/fd``, so only another uid keeps the channel out of the task's reach.
    """
    options = f"rw,nosuid,nodev,exec,size={profile.disk},nr_inodes={tmpfs_inodes(profile.disk)},mode=1777"
    scratch = [config.work_dir, "/tmp", *(path for path in profile.volumes if path not in (config.work_dir, "/tmp"))]
    gvisor = config.runtime == "runsc"
    user = user or config.sandbox_user
    # Under gVisor there is no /dev/mqueue, and the agent's reset is not used (see warm mode).
    writable = (*scratch, "/dev/shm") if gvisor else (*scratch, "/dev/shm", "/dev/mqueue")
    mounts = [docker.types.Mount(AGENT_MOUNT, str(agent), type="bind", read_only=True)]
    if channel is not None:
        mounts.append(docker.types.Mount(CHANNEL_MOUNT, str(channel), type="bind"))
    host = {
        "network_mode": "bridge" if profile.network else "none",
        "read_only": True,
        "tmpfs": {path: options for path in scratch},
        "mounts": mounts,
        "cap_drop": ["ALL"],
        "cap_add": GVISOR_AGENT_CAPABILITIES if gvisor else None,
        "security_opt": ["no-new-privileges", f"seccomp={profile_json()}"],
        "pids_limit": host_pids(max_processes, gvisor=gvisor, budget=config.node_sandbox_pids),
        "mem_limit": outer_memory(memory, profile.disk, len(scratch)),
        "memswap_limit": outer_memory(memory, profile.disk, len(scratch)),
        "nano_cpus": int(config.sandbox_cpus * 1e9),
        # The agent's limits are the ceiling the task's own (set by the stub) are lowered from.
        "ulimits": [
            docker.types.Ulimit(name="nofile", soft=1024, hard=1024),
            docker.types.Ulimit(name="fsize", soft=profile.disk, hard=profile.disk),
            docker.types.Ulimit(name="core", soft=0, hard=0),
        ],
        "runtime": config.runtime,
        "cgroup_parent": cgroup_parent,
        # Output travels over the attach socket and is capped by the agent; nothing goes to a log file.
        "log_config": docker.types.LogConfig(type="none"),
        "shm_size": SHM_BYTES,
        # When the agent exits (its channel closed: the owner died) the engine removes the container.
        "auto_remove": True,
    }
    container = {
        "entrypoint": [AGENT_MOUNT],
        "command": (
            (["-s", CHANNEL_MOUNT] if channel is not None else []) + (["-u", user] if gvisor else []) + list(writable)
        ),
        "user": GVISOR_AGENT_USER if gvisor else user,
        "working_dir": config.work_dir,
        # Only uid 10001 has an /etc/passwd entry ("sandbox") in faber-ray's images: USER and LOGNAME
        # name the others the same way, which is what getpass, Go's os/user and shells fall back to.
        "environment": {"HOME": config.work_dir, "USER": SANDBOX_NAME, "LOGNAME": SANDBOX_NAME},
        "hostname": "sandbox",
        "stdin_open": channel is None,  # without the socket, stdin is the channel in
        "tty": False,
        "network_disabled": not profile.network,
        "labels": labels,
    }
    return ContainerSpec(host=host, container=container, writable=writable)
