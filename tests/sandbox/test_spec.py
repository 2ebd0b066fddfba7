"""The container spec, checked without an engine: every hardening setting and limit is asked for.

(test_runner.py checks from inside real containers that the engine enforces them.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faber_ray import ExecutorConfig, ResourceLimits, Task
from faber_ray.sandbox.spec import STAGING_MOUNT, ContainerSpec, container_spec

LABELS = {"faber-ray": "1"}


def spec_for(task: Task, **config: Any) -> ContainerSpec:
    settings = ExecutorConfig(**config)
    return container_spec(task, settings.resolve_limits(task.limits), settings, labels=LABELS)


def test_hardening_and_limits() -> None:
    task = Task(command="echo", args=["hi"], limits=ResourceLimits(memory="256m", disk="32m", max_processes=20, cpu_time=2.5))
    spec = spec_for(task)
    host = spec.host
    assert host["network_mode"] == "none" and spec.container["network_disabled"] is True
    assert host["read_only"] is True
    assert host["cap_drop"] == ["ALL"] and host["security_opt"] == ["no-new-privileges"]
    assert host["mem_limit"] == host["memswap_limit"] == 256 * 1024**2
    assert host["pids_limit"] == 20
    assert host["tmpfs"] == {
        "/work": f"rw,nosuid,nodev,exec,size={32 * 1024**2},mode=1777",
        "/tmp": f"rw,nosuid,nodev,exec,size={32 * 1024**2},mode=1777",
    }
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["ulimits"]}
    assert ulimits == {"nofile": (1024, 1024), "fsize": (32 * 1024**2,) * 2, "core": (0, 0), "cpu": (4, 5)}
    assert host["log_config"]["Type"] == "none"
    assert spec.container["user"] == "10001:10001"
    assert spec.container["command"] == ["echo", "hi"]
    assert spec.container["labels"] == LABELS


def test_gvisor_caps_processes_with_nproc_not_pids() -> None:
    spec = spec_for(Task(command="true", limits=ResourceLimits(max_processes=16)), runtime="runsc")
    assert spec.host["pids_limit"] is None and spec.host["runtime"] == "runsc"
    assert {"Name": "nproc", "Soft": 16, "Hard": 16} in [dict(u) for u in spec.host["ulimits"]]


def test_network_only_when_the_task_asks() -> None:
    spec = spec_for(Task(command="true", network=True), allow_network=True)
    assert spec.host["network_mode"] == "bridge" and spec.container["network_disabled"] is False


def test_staged_files_are_mounted_read_only_and_copied_in_first(tmp_path: Path) -> None:
    settings = ExecutorConfig()
    task = Task(command="python", args=["main.py"], files={"main.py": "print(1)"}, env={"A": "b"})
    spec = container_spec(task, settings.resolve_limits(None), settings, labels=LABELS, staging=tmp_path)
    (mount,) = spec.host["mounts"]
    assert (mount["Target"], mount["Source"], mount["ReadOnly"]) == (STAGING_MOUNT, str(tmp_path), True)
    assert spec.container["command"][:2] == ["/bin/sh", "-c"]
    assert spec.container["command"][-2:] == ["python", "main.py"]
    assert spec.container["environment"] == {"HOME": "/work", "A": "b"}
