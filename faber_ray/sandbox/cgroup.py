"""A task's limits and usage, straight from the kernel's cgroups (v1 or v2).

``docker stats`` costs about a second a call, so faber-ray reads and writes
the cgroup files itself. Every task (every step of a task) runs in a cgroup
of its own, made as a child of its container's cgroup just before it starts,
so every counter (CPU time, peak memory, peak processes, refused forks, OOM
kills) starts at zero and belongs to that task alone, as in go-judge. The
task's limits are written on that child; the container's cgroup keeps an
outer bound for the agent and the files of earlier steps.

A removed memory cgroup lingers in the kernel ("dying") for as long as any
page is still charged to it, and the page cache a run read from disk stays
charged to that run's cgroup after it is gone: a task that reads files the
cache had lost (or evicts them itself) leaves one behind, for good. So a
child that still holds file pages when it is removed is counted on its
container, and the container's memory is reclaimed (``reclaim``), which
frees those pages and with them the dying cgroups: in warm mode once
``LINGER_LIMIT`` such children have gathered, and whenever a container that
has any is removed. Counters stay exact: every run still gets a new cgroup.

Under gVisor the task's processes live inside the Sentry, out of the host's
reach, so the container's own cgroup is re-limited for each task and its
counters are read as differences from a baseline (``SharedCgroup``).

Every path here is under ``/sys/fs/cgroup``, which only the kernel and root
can change: a task cannot plant anything in it.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from faber_ray.errors import SandboxError

__all__ = [
    "CGROUP_ROOT", "ChildCgroup", "ContainerCgroup", "CgroupUsage", "SharedCgroup", "cgroup_version", "tcp_share",
]

CGROUP_ROOT = Path(os.environ.get("FABER_RAY_CGROUP_ROOT", "/sys/fs/cgroup"))
#: The most of a run's memory set aside for TCP socket buffers on cgroup v1 (see ``tcp_share``).
TCP_SHARE_MAX = 16 * 1024 * 1024
#: How long a gVisor sandbox may take to give a finished step's memory back to the host.
SENTRY_RELEASE_SECONDS = 5.0
#: Removed children still holding file pages a warm container may gather before its memory is reclaimed.
LINGER_LIMIT = 16
#: The v1 controllers a task is moved into; cpu quota and devices stay the container's.
_V1_CONTROLLERS = ("memory", "pids", "cpuacct")


def tcp_share(memory: int) -> int:
    """The part of a run's memory its TCP socket buffers may take on cgroup v1, where the kernel
    counts them apart: an eighth, at most 16 MiB (loopback runs at full speed with 16 MiB and
    slows to a crawl with 1 MiB; most tasks never use TCP, so the share is kept small)."""
    return min(TCP_SHARE_MAX, memory // 8)


def cgroup_version(root: Path = CGROUP_ROOT) -> int:
    """2 on a unified hierarchy, otherwise 1."""
    return 2 if (root / "cgroup.controllers").exists() else 1


@dataclass
class CgroupUsage:
    """One reading; zero where a counter was not readable."""

    cpu_time: float = 0.0
    peak_memory: int = 0
    processes: int = 0
    pids_limit_hits: int = 0
    oom_kills: int = 0


def _file(directory: Path, name: str) -> str:
    """A cgroup file's path as a string: these are made for every task, and a ``Path`` join costs
    several times a string's (about a tenth of the worker's CPU per task, in all)."""
    return f"{directory}/{name}"


def _read(path: Path | str) -> str:
    """A small kernel file, read with two syscalls (these are read for every task)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536).decode()
    finally:
        os.close(fd)


def _read_int(path: Path | str) -> int | None:
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _read_keyed(path: Path | str, key: str) -> int | None:
    try:
        for line in _read(path).splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def _write(path: Path | str, value: object, *, optional: bool = False) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except FileNotFoundError:
        if optional:
            return  # e.g. no swap accounting, or no TCP accounting on this kernel
        raise SandboxError(f"the cgroup file {path} is missing; is the controller enabled?") from None
    except OSError as error:
        raise SandboxError(f"cannot open the cgroup file {path}: {error.strerror}") from None
    try:
        os.write(fd, str(value).encode())
    except OSError as error:
        if not optional:
            raise SandboxError(f"cannot write {value} to {path}: {error.strerror}") from None
    finally:
        os.close(fd)


class ContainerCgroup:
    """A container's cgroup directories, one per controller (one in all on v2)."""

    def __init__(self, paths: dict[str, Path], version: int) -> None:
        self.paths = paths
        self.version = version
        self._limits: tuple[int, int] | None = None
        self._children = 0
        #: Children removed while file pages were still charged to them: each lingers until those go.
        self.lingering = 0

    @classmethod
    def at(cls, relative: str, root: Path = CGROUP_ROOT) -> ContainerCgroup:
        """The cgroup a cgroupfs-driver engine makes for a container: ``<parent>/<id>`` in each hierarchy."""
        if cgroup_version(root) == 2:
            return cls({"": root / relative}, 2)
        return cls({controller: root / controller / relative for controller in _V1_CONTROLLERS}, 1)

    @classmethod
    def of_process(cls, pid: int, root: Path = CGROUP_ROOT, proc: Path = Path("/proc")) -> ContainerCgroup:
        """Find the cgroup of ``pid`` (the container's agent) from ``/proc/<pid>/cgroup``."""
        version = cgroup_version(root)
        try:
            lines = (proc / str(pid) / "cgroup").read_text().splitlines()
        except OSError as error:
            raise SandboxError(f"cannot read the cgroup of sandbox process {pid}: {error.strerror}") from None
        paths: dict[str, Path] = {}
        for line in lines:
            _, controllers, relative = line.split(":", 2)
            if version == 2 and controllers == "":
                paths[""] = root / relative.lstrip("/")
            for controller in controllers.split(","):
                if version == 1 and controller in (*_V1_CONTROLLERS, "cpu"):
                    paths[controller] = root / controller / relative.lstrip("/")
        wanted = [""] if version == 2 else list(_V1_CONTROLLERS)
        missing = [name or "unified" for name in wanted if name not in paths]
        if missing:
            raise SandboxError(f"sandbox process {pid} has no {', '.join(missing)} cgroup; the limits cannot hold")
        return cls(paths, version)

    def _dir(self, controller: str) -> Path:
        return self.paths["" if self.version == 2 else controller]

    def processes(self) -> list[int]:
        """Host pids of the processes in the container's own cgroup (the agent and a fresh stub)."""
        directory = self._dir("pids") / ("agent" if self.version == 2 and self._children else "")
        try:
            return [int(line) for line in _read(_file(directory, "cgroup.procs")).split()]
        except (OSError, ValueError):
            return []

    def set_outer_limits(self, memory: int, processes: int) -> None:
        """Bound the whole container (agent, stub, task and leftover files) before a task."""
        if self._limits == (memory, processes):
            return
        if self.version == 2:
            _write(_file(self._dir("memory"), "memory.max"), memory)
            _write(_file(self._dir("memory"), "memory.swap.max"), 0, optional=True)
        else:
            _set_v1_memory(self._dir("memory"), memory, raising=self._limits is None or memory > self._limits[0])
        _write(_file(self._dir("pids"), "pids.max"), processes)
        self._limits = (memory, processes)

    def reclaim(self) -> None:
        """Free the page cache charged anywhere below this container, which frees its lingering
        children. Called between tasks, when the task's files are gone: what cannot be reclaimed
        (the agent's own memory) stays, and the kernel gives up on it after a few passes."""
        memory = self._dir("memory")
        try:
            if self.version == 2:
                current = _read_int(_file(memory, "memory.current"))
                if current:
                    _write(_file(memory, "memory.reclaim"), current, optional=True)
            else:
                _write(_file(memory, "memory.force_empty"), 0, optional=True)
        except SandboxError:
            pass  # the container is going (or gone): nothing here may stop its removal
        self.lingering = 0

    def child(self, name: str, agent_pid: int) -> ChildCgroup:
        """A fresh cgroup for one task or step; on v2 the agent first moves to a leaf of its own.
        A warm container that gathered ``LINGER_LIMIT`` lingering children is reclaimed first."""
        if self.lingering >= LINGER_LIMIT:
            self.reclaim()
        if self.version == 2 and not self._children:
            leaf = self.paths[""] / "agent"
            _mkdir(leaf)
            _write(_file(leaf, "cgroup.procs"), agent_pid)
            _write(_file(self.paths[""], "cgroup.subtree_control"), "+memory +pids +cpu", optional=True)
        self._children += 1
        if self.version == 2:
            return ChildCgroup({"": self.paths[""] / name}, 2, self)
        return ChildCgroup({controller: self._dir(controller) / name for controller in _V1_CONTROLLERS}, 1, self)


def _mkdir(path: Path) -> None:
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    except OSError as error:
        raise SandboxError(f"cannot create the cgroup {path}: {error.strerror}") from None


def _set_v1_memory(directory: Path, memory: int, *, raising: bool) -> None:
    """memory+swap may never be below memory, so the order of the two writes depends on the direction."""
    memsw = _file(directory, "memory.memsw.limit_in_bytes")
    if raising:
        _write(memsw, memory, optional=True)
        _write(_file(directory, "memory.limit_in_bytes"), memory)
    else:
        _write(_file(directory, "memory.limit_in_bytes"), memory)
        _write(memsw, memory, optional=True)


def _usage(directory: dict[str, Path], version: int) -> CgroupUsage:
    if version == 2:
        path = directory[""]
        return CgroupUsage(
            cpu_time=(_read_keyed(_file(path, "cpu.stat"), "usage_usec") or 0) / 1e6,
            peak_memory=_read_int(_file(path, "memory.peak")) or 0,
            processes=_read_int(_file(path, "pids.peak")) or _read_int(_file(path, "pids.current")) or 0,
            pids_limit_hits=_read_keyed(_file(path, "pids.events"), "max") or 0,
            oom_kills=_read_keyed(_file(path, "memory.events"), "oom_kill") or 0,
        )
    pids, memory = directory["pids"], directory["memory"]
    return CgroupUsage(
        cpu_time=(_read_int(_file(directory["cpuacct"], "cpuacct.usage")) or 0) / 1e9,
        # Each counter's own peak: their sum is at least the peak of the total, and what the run was allowed.
        peak_memory=(_read_int(_file(memory, "memory.max_usage_in_bytes")) or 0)
        + (_read_int(_file(memory, "memory.kmem.tcp.max_usage_in_bytes")) or 0),
        processes=_read_int(_file(pids, "pids.peak")) or _read_int(_file(pids, "pids.current")) or 0,
        pids_limit_hits=_read_keyed(_file(pids, "pids.events"), "max") or 0,
        oom_kills=_read_keyed(_file(memory, "memory.oom_control"), "oom_kill") or 0,
    )


def _file_pages(memory: Path) -> int:
    """Bytes of page cache charged to this cgroup itself (tmpfs is not among them: it is freed with its files)."""
    try:
        stat = dict(line.split(" ", 1) for line in _read(_file(memory, "memory.stat")).splitlines())
        return int(stat.get("active_file", 0)) + int(stat.get("inactive_file", 0))
    except (OSError, ValueError):
        return 0


@dataclass
class ChildCgroup:
    """One task's own cgroup: made empty, limited, joined by the stub, read, removed."""

    paths: dict[str, Path]
    version: int
    container: ContainerCgroup | None = None  #: whose ``lingering`` counts this one if it lingers
    made: bool = field(default=False, init=False)

    def create(self, memory: int, processes: int) -> None:
        for path in self.paths.values():
            _mkdir(path)
        self.made = True
        if self.version == 2:
            path = self.paths[""]
            _write(_file(path, "memory.max"), memory)
            _write(_file(path, "memory.swap.max"), 0, optional=True)
            _write(_file(path, "pids.max"), processes)
            return
        memory_dir = self.paths["memory"]
        # v1 counts TCP socket buffers apart from memory, under a limit of their own: a share of the
        # run's memory goes to them and the rest to everything else, so that together they fit it.
        tcp = tcp_share(memory)
        try:
            _write(_file(memory_dir, "memory.kmem.tcp.limit_in_bytes"), tcp)
        except SandboxError:
            tcp = 0  # no TCP accounting on this kernel: the buffers are not charged to the run at all
        _set_v1_memory(memory_dir, memory - tcp, raising=False)
        _write(_file(self.paths["pids"], "pids.max"), processes)

    def attach(self, pid: int) -> None:
        for path in self.paths.values():
            _write(_file(path, "cgroup.procs"), pid)

    def read(self) -> CgroupUsage:
        return _usage(self.paths, self.version)

    def cpu_time(self) -> float:
        if self.version == 2:
            return (_read_keyed(_file(self.paths[""], "cpu.stat"), "usage_usec") or 0) / 1e6
        return (_read_int(_file(self.paths["cpuacct"], "cpuacct.usage")) or 0) / 1e9

    def remove(self) -> None:
        """Remove the directories; one still busy (a process not yet gone) is left to the reaper."""
        if not self.made:
            return
        if self.container is not None and _file_pages(self.paths["" if self.version == 2 else "memory"]):
            self.container.lingering += 1
        for path in self.paths.values():
            for _ in range(100):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if error.errno != errno.EBUSY:
                        break
                    os.sched_yield()
        self.made = False


class SharedCgroup:
    """The container's own cgroup serving one task (gVisor): limited for it, read as differences.

    Its parent cgroup is the container's alone (see ``SandboxRunner``) and outlives it, so the
    limits that can take the whole sandbox down (memory, host tasks) are read back from there:
    when gVisor's Sentry dies of them, the parent still tells why.
    """

    def __init__(self, container: ContainerCgroup) -> None:
        self.container = container
        self._base = CgroupUsage()

    def _parent(self, controller: str) -> Path:
        return self.container.paths["" if self.container.version == 2 else controller].parent

    def create(self, memory: int, processes: int) -> None:
        # The parent holds the host-task limit, so that its refusals are counted where they survive.
        deadline = time.monotonic() + SENTRY_RELEASE_SECONDS
        while True:
            try:
                self.container.set_outer_limits(memory, processes + 16)
                break
            except SandboxError:
                # A step below the last one's memory: the kernel refuses a limit under the usage, and
                # the Sentry gives freed memory back to the host a moment after the last step ended.
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)
        _write(_file(self._parent("pids"), "pids.max"), processes)
        if self.container.version == 1:
            for peak in ("memory.max_usage_in_bytes", "memory.kmem.tcp.max_usage_in_bytes"):
                _write(_file(self.container.paths["memory"], peak), 0, optional=True)
        self._base = self._raw()

    def attach(self, pid: int) -> None:
        """Nothing to move: the whole container is the task's."""

    def _raw(self) -> CgroupUsage:
        usage = _usage(self.container.paths, self.container.version)
        parent_memory = "memory.peak" if self.container.version == 2 else "memory.max_usage_in_bytes"
        usage.peak_memory = max(usage.peak_memory, _read_int(self._parent("memory") / parent_memory) or 0)
        # Refused forks are counted in the container's cgroup or in its parent's, by kernel version.
        usage.pids_limit_hits += _read_keyed(_file(self._parent("pids"), "pids.events"), "max") or 0
        return usage

    def read(self) -> CgroupUsage:
        now = self._raw()
        hits = max(0, now.pids_limit_hits - self._base.pids_limit_hits)
        if not hits and self._out_of_tasks():
            hits = 1
        return CgroupUsage(
            cpu_time=max(0.0, now.cpu_time - self._base.cpu_time),
            peak_memory=now.peak_memory,
            processes=now.processes,
            pids_limit_hits=hits,
            oom_kills=max(0, now.oom_kills - self._base.oom_kills),
        )

    def _out_of_tasks(self) -> bool:
        """The sandbox is gone and its parent's peak reached its pids limit: the Sentry ran out of host tasks.

        The kernel counts a refused fork in the forking process's cgroup (cgroup v1), which was the
        container's and went with it; the parent's peak is what is left to tell why (kernels with pids.peak).
        """
        if self.container._dir("pids").exists():
            return False
        peak, limit = _read_int(_file(self._parent("pids"), "pids.peak")), _read_int(_file(self._parent("pids"), "pids.max"))
        return peak is not None and limit is not None and peak >= limit

    def cpu_time(self) -> float:
        return self.read().cpu_time

    def remove(self) -> None:
        """The container's cgroup goes with the container."""
