"""Per-run cgroups: found, made, limited, read and removed, on fake v1 and v2 trees and on the real engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from faber_ray import ResourceLimits, Task, TaskStatus
from faber_ray.errors import SandboxError
from faber_ray.sandbox.cgroup import LINGER_LIMIT, ChildCgroup, ContainerCgroup, SharedCgroup, tcp_share
from faber_ray.sandbox.runner import SandboxRunner

MiB = 1024**2


def fake_v1(tmp: Path) -> Path:
    root = tmp / "v1"
    for controller in ("memory", "pids", "cpuacct", "cpu"):
        (root / controller / "faber-ray" / "c1").mkdir(parents=True)
    return root


def fake_v2(tmp: Path) -> Path:
    root = tmp / "v2"
    (root / "faber-ray" / "c1").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    return root


def test_locate_from_the_process_reads_v1_lines(tmp_path: Path) -> None:
    root = fake_v1(tmp_path)
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "cgroup").write_text(
        "12:pids:/system.slice/docker-abc.scope\n"
        "5:memory:/system.slice/docker-abc.scope\n"
        "4:cpu,cpuacct:/system.slice/docker-abc.scope\n"
        "1:name=systemd:/system.slice/docker-abc.scope\n"
    )
    found = ContainerCgroup.of_process(4242, root=root, proc=tmp_path)
    assert found.version == 1
    assert found.paths["cpuacct"] == root / "cpuacct" / "system.slice/docker-abc.scope"
    assert found.paths["pids"] == root / "pids" / "system.slice/docker-abc.scope"
    with pytest.raises(SandboxError, match="cannot read the cgroup"):
        ContainerCgroup.of_process(999, root=root, proc=tmp_path)


def test_locate_from_the_process_reads_the_v2_line(tmp_path: Path) -> None:
    root = fake_v2(tmp_path)
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "cgroup").write_text("0::/system.slice/docker-abc.scope\n")
    found = ContainerCgroup.of_process(7, root=root, proc=tmp_path)
    assert (found.version, found.paths) == (2, {"": root / "system.slice/docker-abc.scope"})


def test_v1_child_is_made_limited_joined_read_and_removed(tmp_path: Path) -> None:
    root = fake_v1(tmp_path)
    container = ContainerCgroup.at("faber-ray/c1", root=root)
    child = container.child("step-1", agent_pid=100)
    assert isinstance(child, ChildCgroup)
    # The kernel makes a cgroup's files; the fake tree has none until the directory exists.
    for path in child.paths.values():
        path.mkdir()
    for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes"):
        (child.paths["memory"] / name).write_text("max\n")
    (child.paths["pids"] / "pids.max").write_text("max\n")
    for path in child.paths.values():
        (path / "cgroup.procs").write_text("")
    child.create(64 * MiB, 16)
    memory = child.paths["memory"]
    # v1 counts socket buffers apart: an eighth of the memory is theirs, and the rest is the limit of everything else.
    assert (memory / "memory.limit_in_bytes").read_text() == str(56 * MiB)
    assert (memory / "memory.memsw.limit_in_bytes").read_text() == str(56 * MiB)
    assert (memory / "memory.kmem.tcp.limit_in_bytes").read_text() == str(8 * MiB)
    assert (child.paths["pids"] / "pids.max").read_text() == "16"
    child.attach(4321)
    assert all((path / "cgroup.procs").read_text() == "4321" for path in child.paths.values())
    (child.paths["cpuacct"] / "cpuacct.usage").write_text("1500000000\n")
    (memory / "memory.max_usage_in_bytes").write_text(f"{3 * MiB}\n")
    (memory / "memory.kmem.tcp.max_usage_in_bytes").write_text(f"{MiB}\n")  # counted in the peak
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    (child.paths["pids"] / "pids.peak").write_text("7\n")
    (child.paths["pids"] / "pids.events").write_text("max 3\n")
    usage = child.read()
    assert (usage.cpu_time, usage.peak_memory, usage.processes, usage.pids_limit_hits, usage.oom_kills) == (
        1.5, 4 * MiB, 7, 3, 1,
    )


@pytest.mark.parametrize(("memory", "share"), [(6 * MiB, 6 * MiB // 8), (64 * MiB, 8 * MiB), (512 * MiB, 16 * MiB)])
def test_the_tcp_share_is_an_eighth_of_the_memory_at_most_16_mib(memory: int, share: int) -> None:
    assert tcp_share(memory) == share


def test_without_tcp_accounting_the_whole_memory_is_the_limit(tmp_path: Path) -> None:
    root = fake_v1(tmp_path)
    child = ContainerCgroup.at("faber-ray/c1", root=root).child("step-1", agent_pid=100)
    for path in child.paths.values():
        path.mkdir()
    for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
        (child.paths["memory"] / name).write_text("max\n")
    (child.paths["pids"] / "pids.max").write_text("max\n")
    child.create(64 * MiB, 16)
    assert (child.paths["memory"] / "memory.limit_in_bytes").read_text() == str(64 * MiB)


def test_children_that_keep_page_cache_are_counted_and_reclaimed_at_the_limit(tmp_path: Path) -> None:
    """A removed child still holding file pages lingers in the kernel: the container counts it, and
    reclaims its memory (which frees those pages) before the run after the limit."""
    root = fake_v1(tmp_path)
    container = ContainerCgroup.at("faber-ray/c1", root=root)
    (container.paths["memory"] / "memory.force_empty").write_text("")
    for number in range(LINGER_LIMIT):
        child = container.child(f"step-{number}", agent_pid=100)
        child.made = True  # as create() would; the fake directories are never made, so rmdir finds nothing
        child.paths["memory"].mkdir()
        cached = 4096 if number % 2 == 0 else 0  # tmpfs (shmem) is not file cache: it goes with its files
        (child.paths["memory"] / "memory.stat").write_text(
            f"cache {cached + 8192}\nshmem 8192\ninactive_file {cached}\nactive_file 0\n"
        )
        child.remove()
    assert container.lingering == LINGER_LIMIT // 2
    container.lingering = LINGER_LIMIT
    container.child("step-next", agent_pid=100)
    assert (container.paths["memory"] / "memory.force_empty").read_text() == "0"
    assert container.lingering == 0


def test_v2_reclaim_asks_for_everything_the_container_holds(tmp_path: Path) -> None:
    root = fake_v2(tmp_path)
    container = ContainerCgroup.at("faber-ray/c1", root=root)
    (container.paths[""] / "memory.current").write_text("123456\n")
    (container.paths[""] / "memory.reclaim").write_text("")
    container.lingering = 3
    container.reclaim()
    assert (container.paths[""] / "memory.reclaim").read_text() == "123456"
    assert container.lingering == 0


def test_v2_child_moves_the_agent_to_a_leaf_first(tmp_path: Path) -> None:
    root = fake_v2(tmp_path)
    container = ContainerCgroup.at("faber-ray/c1", root=root)
    (container.paths[""] / "cgroup.subtree_control").write_text("")
    leaf = container.paths[""] / "agent"
    leaf.mkdir()
    (leaf / "cgroup.procs").write_text("")
    child = container.child("step-1", agent_pid=100)
    assert (leaf / "cgroup.procs").read_text() == "100"  # no process may stay in a cgroup with children
    assert (container.paths[""] / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert child.paths == {"": container.paths[""] / "step-1"}


def test_lowering_and_raising_v1_outer_limits_keeps_memsw_above_memory(tmp_path: Path) -> None:
    root = fake_v1(tmp_path)
    container = ContainerCgroup.at("faber-ray/c1", root=root)
    memory_dir = container.paths["memory"]
    for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
        (memory_dir / name).write_text("")
    (container.paths["pids"] / "pids.max").write_text("")
    container.set_outer_limits(100 * MiB, 10)
    container.set_outer_limits(200 * MiB, 10)
    writes = [(memory_dir / name).read_text() for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes")]
    assert writes == [str(200 * MiB)] * 2
    assert (container.paths["pids"] / "pids.max").read_text() == "10"


def test_shared_cgroup_limits_the_parent_and_reads_differences(tmp_path: Path) -> None:
    """gVisor: the container's own parent holds the host-task limit and outlives the container."""
    root = fake_v1(tmp_path)
    for controller in ("memory", "pids", "cpuacct"):
        (root / controller / "faber-ray" / "run1" / "c1").mkdir(parents=True)
    container = ContainerCgroup.at("faber-ray/run1/c1", root=root)
    memory, pids = container.paths["memory"], container.paths["pids"]
    for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.max_usage_in_bytes"):
        (memory / name).write_text("0\n")
    (pids / "pids.max").write_text("")
    (pids.parent / "pids.max").write_text("")
    (pids.parent / "pids.events").write_text("max 2\n")
    (container.paths["cpuacct"] / "cpuacct.usage").write_text("2000000000\n")
    shared = SharedCgroup(container)
    shared.create(64 * MiB, 100)
    assert ((pids.parent / "pids.max").read_text(), (pids / "pids.max").read_text()) == ("100", "116")
    assert (memory / "memory.limit_in_bytes").read_text() == str(64 * MiB)
    (container.paths["cpuacct"] / "cpuacct.usage").write_text("2500000000\n")
    (pids.parent / "pids.events").write_text("max 7\n")
    (memory.parent / "memory.max_usage_in_bytes").write_text(f"{60 * MiB}\n")
    usage = shared.read()
    assert usage.cpu_time == pytest.approx(0.5)
    assert (usage.pids_limit_hits, usage.peak_memory) == (5, 60 * MiB)


def test_a_gvisor_sandbox_gone_at_its_host_task_cap_counts_as_the_process_limit(tmp_path: Path) -> None:
    """cgroup v1 counts the refused fork in the container's own cgroup, which goes with the sandbox:
    the parent's peak at its pids limit is what is left to say the Sentry ran out of host tasks."""
    import shutil

    root = fake_v1(tmp_path)
    for controller in ("memory", "pids", "cpuacct"):
        (root / controller / "faber-ray" / "run1" / "c1").mkdir(parents=True)
    container = ContainerCgroup.at("faber-ray/run1/c1", root=root)
    pids = container.paths["pids"]
    for name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes"):
        (container.paths["memory"] / name).write_text("0\n")
    for path in (pids / "pids.max", pids.parent / "pids.max", pids / "pids.events"):
        path.write_text("max 0\n" if path.name == "pids.events" else "")
    shared = SharedCgroup(container)
    shared.create(64 * MiB, 576)
    (pids.parent / "pids.peak").write_text("300\n")
    assert shared.read().pids_limit_hits == 0  # alive, under its cap
    (pids / "pids.events").write_text("max 1\n")
    assert shared.read().pids_limit_hits == 1  # alive: the container's own count says it
    (pids / "pids.events").write_text("max 0\n")
    shutil.rmtree(pids)
    assert shared.read().pids_limit_hits == 0  # gone, but never at its cap: not the process limit
    (pids.parent / "pids.peak").write_text("576\n")
    assert shared.read().pids_limit_hits == 1


def test_without_parent_cgroups_limits_are_still_enforced_from_the_process(
    make_runner: Callable[..., SandboxRunner],
) -> None:
    """What a systemd-driver host does: no cgroup_parent, the cgroup found through the agent's /proc entry."""
    runner: SandboxRunner = make_runner()
    runner._cgroup_parent = None
    result = runner.run(
        Task(command="python3", args=["-c", "while True: pass"], limits=ResourceLimits(cpu_time=1, timeout=20))
    )
    assert result.status is TaskStatus.CPU_LIMIT_EXCEEDED
    assert result.resource_usage.cpu_time >= 1
    assert result.resource_usage.peak_memory > 0
