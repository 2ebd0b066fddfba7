"""Finding a container's cgroup, with our parent (cgroupfs driver) and from its process (systemd driver)."""

from __future__ import annotations

from pathlib import Path

from faber_ray import ResourceLimits, Task, TaskStatus
from faber_ray.sandbox.cgroup import SandboxCgroup
from faber_ray.sandbox.runner import SandboxRunner


def test_locate_process_reads_v1_and_v2_lines(tmp_path: Path) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "cgroup").write_text(
        "12:pids:/system.slice/docker-abc.scope\n"
        "4:cpu,cpuacct:/system.slice/docker-abc.scope\n"
        "1:name=systemd:/system.slice/docker-abc.scope\n"
        "0::/system.slice/docker-abc.scope\n"
    )
    cgroup = SandboxCgroup("faber-ray/x", root=tmp_path / "fs")
    assert cgroup.locate_process(4242, proc=tmp_path)
    assert cgroup._dir("cpuacct", container=True) == tmp_path / "fs" / "cpuacct" / "system.slice/docker-abc.scope"
    assert cgroup._dir("pids", container=True) == tmp_path / "fs" / "pids" / "system.slice/docker-abc.scope"
    assert cgroup._dir("memory", container=False) == tmp_path / "fs" / "memory" / "faber-ray/x"
    assert not cgroup.locate_process(999, proc=tmp_path)


def test_without_parent_cgroups_limits_are_still_enforced_from_the_process(make_runner) -> None:
    """What a systemd-driver host does: no cgroup_parent, the cgroup found through /proc."""
    runner: SandboxRunner = make_runner()
    runner._cgroup_parents = False
    result = runner.run(
        Task(command="python3", args=["-c", "while True: pass"], limits=ResourceLimits(cpu_time=1, timeout=20))
    )
    assert result.status is TaskStatus.CPU_LIMIT_EXCEEDED
    assert result.resource_usage.cpu_time >= 1
    assert result.resource_usage.peak_memory > 0
