"""Read a sandbox's usage straight from its cgroup (v1 or v2).

``docker stats`` costs about a second a call, so the runner reads the kernel's
counters itself. Each container is started under its own *parent* cgroup
(``cgroup_parent``): the parent's counters are hierarchical and, unlike the
container's own directory (which vanishes when the container exits), they
survive the exit, so even a 5 ms task gets exact CPU and peak-memory numbers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CgroupUsage", "SandboxCgroup", "cgroup_version"]

CGROUP_ROOT = Path(os.environ.get("FABER_RAY_CGROUP_ROOT", "/sys/fs/cgroup"))


def cgroup_version(root: Path = CGROUP_ROOT) -> int:
    """2 on a unified hierarchy, otherwise 1."""
    return 2 if (root / "cgroup.controllers").exists() else 1


@dataclass
class CgroupUsage:
    """One reading of the counters; zero where a counter was not readable."""

    cpu_time: float = 0.0
    peak_memory: int = 0
    processes: int = 0
    pids_limit_hits: int = 0


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_keyed(path: Path, key: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        return None
    return None


class SandboxCgroup:
    """The cgroup paths of one sandbox: its parent (kept after exit) and the container's own."""

    def __init__(self, parent: str, container_id: str | None = None, root: Path = CGROUP_ROOT) -> None:
        self.parent = parent.strip("/")
        self.container_id = container_id
        self.root = root
        self.version = cgroup_version(root)

        # Where the container's own cgroup is, per controller ("" on v2), when it
        # was found from its process rather than from our parent and its id.
        self._process_paths: dict[str, str] = {}

    def locate_process(self, pid: int, proc: Path = Path("/proc")) -> bool:
        """Find the container's cgroup from its PID 1, for engines whose cgroup driver
        (systemd) ignores our parent path; False if the process is not visible here."""
        try:
            lines = (proc / str(pid) / "cgroup").read_text().splitlines()
        except OSError:
            return False
        for line in lines:
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                self._process_paths[controller.removeprefix("name=")] = path.lstrip("/")
        return bool(self._process_paths)

    def _dir(self, controller: str, *, container: bool) -> Path:
        base = self.root if self.version == 2 else self.root / controller
        if container and controller in self._process_paths:
            return base / self._process_paths[controller]
        path = base / self.parent
        return path / self.container_id if container and self.container_id else path

    def read(self, *, container: bool = False) -> CgroupUsage:
        """Read the counters of the parent (``container=False``) or of the running container."""
        if self.version == 2:
            directory = self._dir("", container=container)
            usec = _read_keyed(directory / "cpu.stat", "usage_usec")
            return CgroupUsage(
                cpu_time=(usec or 0) / 1e6,
                peak_memory=_read_int(directory / "memory.peak") or 0,
                processes=_read_int(directory / "pids.current") or 0,
                pids_limit_hits=_read_keyed(directory / "pids.events", "max") or 0,
            )
        nanoseconds = _read_int(self._dir("cpuacct", container=container) / "cpuacct.usage")
        return CgroupUsage(
            cpu_time=(nanoseconds or 0) / 1e9,
            peak_memory=_read_int(self._dir("memory", container=container) / "memory.max_usage_in_bytes") or 0,
            processes=_read_int(self._dir("pids", container=container) / "pids.current") or 0,
            pids_limit_hits=_read_keyed(self._dir("pids", container=container) / "pids.events", "max") or 0,
        )

    def container_pids_limit_hits(self) -> int:
        """Forks the running container's pids limit refused (only its own cgroup counts them)."""
        directory = self._dir("" if self.version == 2 else "pids", container=True)
        return _read_keyed(directory / "pids.events", "max") or 0

    def oom_kills(self) -> int:
        """OOM kills counted in the parent, which survive the container's exit.

        Only cgroup v2 propagates the count to the parent; on v1 this stays 0 and
        Docker's ``OOMKilled`` flag (reliable under runc) is what tells.
        """
        if self.version == 2:
            return _read_keyed(self._dir("", container=False) / "memory.events", "oom_kill") or 0
        return _read_keyed(self._dir("memory", container=False) / "memory.oom_control", "oom_kill") or 0

    def remove(self) -> None:
        """Remove the parent directories Docker created; a busy or missing one is left alone."""
        if self.version == 2:
            candidates = [self.root / self.parent]
        else:
            candidates = [path / self.parent for path in self.root.iterdir() if (path / self.parent).is_dir()]
        for path in candidates:
            try:
                path.rmdir()
            except OSError:
                pass
