"""The container spec, checked without an engine: every hardening setting and outer limit is asked for.

(test_runner.py checks from inside real containers that the engine enforces them.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faber_ray import ExecutorConfig, ResourceLimits
from faber_ray.sandbox.agent.build import AGENT_MOUNT
from faber_ray.sandbox.seccomp import DENIED, seccomp_profile
from faber_ray.sandbox.spec import (
    AGENT_ALLOWANCE,
    AGENT_PROCESSES,
    SHM_BYTES,
    ContainerSpec,
    SandboxProfile,
    container_spec,
    gvisor_host_tasks,
    task_memory,
    task_pids,
    tmpfs_inodes,
)

LABELS = {"faber-ray": "1"}
MiB = 1024**2
AGENT = Path("/cache/agent-0123")


def spec_for(profile: SandboxProfile | None = None, memory: int = 256 * MiB, processes: int = 20, **config: Any) -> ContainerSpec:
    profile = profile or SandboxProfile("faber-ray/python:3", 32 * MiB, False)
    return container_spec(
        profile, ExecutorConfig(**config), agent=AGENT, labels=LABELS, memory=memory, max_processes=processes,
        cgroup_parent="/faber-ray",
    )


def test_hardening_and_outer_limits() -> None:
    spec = spec_for()
    host = spec.host
    assert host["network_mode"] == "none" and spec.container["network_disabled"] is True
    assert host["read_only"] is True
    assert host["cap_drop"] == ["ALL"]
    assert host["security_opt"][0] == "no-new-privileges"
    assert host["security_opt"][1].startswith("seccomp=")
    # The outer bound covers the task's memory, both scratch mounts, /dev/shm and the agent.
    assert host["mem_limit"] == host["memswap_limit"] == 256 * MiB + 2 * 32 * MiB + SHM_BYTES + AGENT_ALLOWANCE
    assert host["pids_limit"] == 20 + AGENT_PROCESSES
    options = f"rw,nosuid,nodev,exec,size={32 * MiB},nr_inodes={tmpfs_inodes(32 * MiB)},mode=1777"
    assert host["tmpfs"] == {"/work": options, "/tmp": options}
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["ulimits"]}
    assert ulimits == {"nofile": (1024, 1024), "fsize": (32 * MiB,) * 2, "core": (0, 0)}
    assert host["log_config"]["Type"] == "none"
    assert host["auto_remove"] is True  # the agent exits with its owner, and the engine removes the container
    assert host["cgroup_parent"] == "/faber-ray"
    (mount,) = host["mounts"]
    assert (mount["Target"], mount["Source"], mount["ReadOnly"]) == (AGENT_MOUNT, str(AGENT), True)
    assert spec.container["entrypoint"] == [AGENT_MOUNT]
    assert spec.container["command"] == ["/work", "/tmp", "/dev/shm", "/dev/mqueue"]
    assert spec.container["user"] == "10001:10001"
    assert spec.container["labels"] == LABELS


def test_image_volumes_get_a_sized_tmpfs_and_are_wiped() -> None:
    spec = spec_for(SandboxProfile("postgres:16", 8 * MiB, False, ("/var/lib/postgresql/data",)))
    assert set(spec.host["tmpfs"]) == {"/work", "/tmp", "/var/lib/postgresql/data"}
    assert "size=8388608" in spec.host["tmpfs"]["/var/lib/postgresql/data"]
    assert "/var/lib/postgresql/data" in spec.container["command"]
    assert spec.host["mem_limit"] == 256 * MiB + 3 * 8 * MiB + SHM_BYTES + AGENT_ALLOWANCE


def test_gvisor_bounds_the_hosts_tasks_too() -> None:
    spec = spec_for(processes=16, runtime="runsc")
    assert spec.host["pids_limit"] == gvisor_host_tasks(16) and spec.host["runtime"] == "runsc"
    assert "/dev/mqueue" not in spec.container["command"]


def test_admission_counts_a_judged_tasks_checker_or_interactor_sandbox() -> None:
    """A custom checker or an interactor runs in a sandbox of its own beside the program's: admission
    reserves both (each at its largest run: the C++ helper's compile), not the program's alone."""
    from faber_ray.judging import Checker, TestCase
    from faber_ray.languages import task

    limits = ResourceLimits(memory="64MiB", max_processes=8, disk="8MiB")
    helper = Checker(language="cpp", source="int main(){}", limits=ResourceLimits(memory="96MiB", max_processes=4))
    tests = [TestCase(input="1")]
    plain = task("python", "print(1)", limits=limits, tests=tests)
    checked = task("python", "print(1)", limits=limits, tests=tests, checker=helper)
    interactive = task("python", "print(1)", limits=limits, tests=tests, interactor=helper)
    config, gvisor = ExecutorConfig(), ExecutorConfig(runtime="runsc")
    assert task_memory(plain, config) == 64 * MiB
    assert task_pids(plain, config) == 8 + AGENT_PROCESSES
    for judged in (checked, interactive):
        assert task_memory(judged, config) == 64 * MiB + 96 * MiB
        assert task_pids(judged, config) == 8 + 4 + 2 * AGENT_PROCESSES
        assert task_pids(judged, gvisor) == gvisor_host_tasks(8) + gvisor_host_tasks(4)


def test_network_only_when_the_task_asks() -> None:
    spec = spec_for(SandboxProfile("faber-ray/python:3", 32 * MiB, True), allow_network=True)
    assert spec.host["network_mode"] == "bridge" and spec.container["network_disabled"] is False


def test_inodes_follow_the_disk_within_bounds() -> None:
    assert tmpfs_inodes(64 * MiB) == 16384
    assert tmpfs_inodes(1 * MiB) == 1024
    assert tmpfs_inodes(1 << 40) == 1 << 20


def test_seccomp_profile_denies_io_uring_and_namespaces() -> None:
    profile = seccomp_profile()
    allowed = {name for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for name in rule["names"]}
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert not set(DENIED) & allowed
    for needed in ("read", "write", "ioctl", "execve", "fork", "memfd_create", "signalfd4", "close_range", "statx"):
        assert needed in allowed
    for dangerous in ("mount", "unshare", "setns", "bpf", "keyctl", "add_key", "reboot", "kexec_load", "init_module"):
        assert dangerous not in allowed
    (clone,) = [rule for rule in profile["syscalls"] if rule["names"] == ["clone"] and "excludes" in rule]
    assert clone["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"  # no namespace flags
    json.dumps(profile)  # what the engine receives


def test_a_missing_images_hint_names_a_command_that_makes_it() -> None:
    from faber_ray.sandbox.engine import missing_image

    assert "`faber-ray images ensure faber-ray/gcc:12`" in missing_image("faber-ray/gcc:12")
    other = missing_image("postgres:16")
    assert "faber-ray images ensure" not in other and "docker pull postgres:16" in other


def test_each_container_runs_as_its_leased_uid() -> None:
    profile = SandboxProfile("faber-ray/python:3", 32 * MiB, False)
    spec = container_spec(profile, ExecutorConfig(), agent=AGENT, labels=LABELS, memory=64 * MiB, max_processes=8,
                          user="10042:10001")
    assert spec.container["user"] == "10042:10001" and "-u" not in spec.container["command"]
    assert spec.host["cap_add"] is None and spec.host["cap_drop"] == ["ALL"]


def test_under_gvisor_the_agent_is_another_user_who_can_only_become_the_task_and_kill_it() -> None:
    """gVisor lets a task of the agent's uid open /proc/1/fd (its channel): the agent is root of gVisor's
    own kernel instead, with SETUID, SETGID and KILL alone, and each stub becomes the leased uid."""
    profile = SandboxProfile("faber-ray/python:3", 32 * MiB, False)
    spec = container_spec(profile, ExecutorConfig(runtime="runsc"), agent=AGENT, labels=LABELS, memory=64 * MiB,
                          max_processes=8, user="10042:10001")
    assert spec.container["user"] == "0:0"
    assert spec.container["command"][:2] == ["-u", "10042:10001"]
    assert (spec.host["cap_drop"], spec.host["cap_add"]) == (["ALL"], ["SETUID", "SETGID", "KILL"])
    assert spec.host["security_opt"][0] == "no-new-privileges"
