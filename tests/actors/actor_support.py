"""Helpers for the actor tests: polling with a deadline, Docker views, executor views."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import docker
import pytest
import ray
from cli_support import free_port, poll  # noqa: F401 - free_port is used from here

from faber_ray.models import Task, TaskResult
from faber_ray.sandbox.labels import LABEL, LABEL_NODE_ID, LABEL_OWNER
from faber_ray.sandbox.reaper import maker_is_gone, list_sandboxes

#: Upper bound for anything that happens asynchronously (reaping after a worker
#: death, a node joining, a replacement worker). Polls end as soon as the
#: condition holds; the bound only turns a hang into a failure.
DEADLINE = 60.0


def wait_until(condition: Callable[[], Any], what: str, deadline: float = DEADLINE, every: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``deadline`` seconds."""
    return poll(condition, what, deadline, every)


def cluster_containers(engine: docker.DockerClient) -> list[dict[str, Any]]:
    """``faber-ray`` containers (any state) started by any node of this Ray cluster, dead or alive.

    Other tests share the engine (the sandbox tests label theirs ``test-node``);
    they are none of ours.
    """
    ours = {node["NodeID"] for node in ray.nodes()}
    found = engine.api.containers(all=True, filters={"label": [LABEL]})
    return [box for box in found if box["Labels"].get(LABEL_NODE_ID) in ours]


def orphans(engine: docker.DockerClient) -> list[dict[str, Any]]:
    """This cluster's containers whose maker (a worker process) is gone: what a fault leaves."""
    ours = {node["NodeID"] for node in ray.nodes()}
    return [
        {"Id": box["id"], "Labels": {LABEL_OWNER: box["owner"]}}
        for box in list_sandboxes(engine)
        if box["node_id"] in ours and maker_is_gone(box)
    ]


def wait_no_containers(engine: docker.DockerClient, deadline: float = DEADLINE) -> None:
    """Wait for the asynchronous cleanup after a fault: no container of a dead worker may outlive
    ``deadline`` (live workers keep their idle warm containers)."""
    end = time.monotonic() + deadline
    while True:
        left = orphans(engine)
        if not left:
            return
        if time.monotonic() > end:
            pytest.fail(
                "faber-ray containers left behind: "
                + ", ".join(f"{box['Id'][:12]} owner={box['Labels'].get(LABEL_OWNER)}" for box in left)
            )
        time.sleep(0.25)


def shut_down(executor: Any, engine: docker.DockerClient) -> None:
    """``shutdown()`` must leave no container of its workers, idle warm ones included: checked at
    once, no waiting. (Another executor of the module may still hold its own warm containers.)"""
    workers = set(worker_names(executor))
    try:
        ray.get(executor.shutdown.remote(), timeout=120)
    finally:
        left = [box for box in cluster_containers(engine) if box["Labels"].get(LABEL_OWNER) in workers]
        ray.kill(executor, no_restart=True)
        for box in left:  # do not cascade into the next module
            engine.api.remove_container(box["Id"], force=True)
    assert left == [], f"shutdown() left containers: {[box['Id'][:12] for box in left]}"


def stats(executor: Any) -> Any:
    return ray.get(executor.stats.remote())


def view(executor: Any) -> dict[str, Any]:
    return ray.get(executor.cluster.remote())


def worker_names(executor: Any) -> dict[str, str]:
    """Worker name -> node id, as the executor's cluster() reports them."""
    return {
        worker["name"]: node_id
        for node_id, node in view(executor)["nodes"].items()
        for worker in node["workers"]
    }


_sleeps = iter(range(1, 10**9))


def sleeper(seconds: int = 300) -> Task:
    """``sleep`` with an argument no other task uses (seconds and a unique fraction), so its host
    process can be found and counted: in both sandbox modes, a running task is a process on the host."""
    return Task(command="sleep", args=[f"{seconds}.{next(_sleeps):09d}{os.getpid() % 1000:03d}"])


def sleeping(tasks: list[Task]) -> list[int]:
    """Host pids of the sleepers among ``tasks`` that are running now."""
    wanted = {"\0".join(task.argv()).encode() + b"\0" for task in tasks}
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if open(f"/proc/{entry}/cmdline", "rb").read() in wanted:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def container_of(pid: int) -> str:
    """The id of the container a host process runs in, from its cgroup path ("" if it is gone)."""
    try:
        lines = open(f"/proc/{pid}/cgroup").read().splitlines()
    except OSError:
        return ""
    for line in lines:
        for part in line.split(":", 2)[-1].split("/"):
            if len(part) == 64 and all(ch in "0123456789abcdef" for ch in part):
                return part
    return ""


def node_of_process(engine: docker.DockerClient, pid: int) -> str:
    """The Ray node whose sandbox a host process runs in ("" if it is gone)."""
    try:
        labels = engine.api.inspect_container(container_of(pid))["Config"]["Labels"]
    except docker.errors.DockerException:
        return ""
    return str(labels.get(LABEL_NODE_ID, ""))


def vanished_image(executor: Any, engine: docker.DockerClient, name: str = "faber-ray/soon-gone:1") -> str:
    """An image the executor's nodes have seen (so submit accepts it) that is gone from the engine
    by the time a task runs: the one way left for a run to end in an engine ERROR."""
    repository, tag = name.rsplit(":", 1)
    engine.api.tag("faber-ray/python:3", repository, tag)
    try:
        first = ray.get(executor.execute.remote([Task(command="true", image=name)]))[0]
        assert first.status.value == "SUCCESS", first
    finally:
        engine.api.remove_image(name)
    return name


# Timestamps taken in the containers: how many tasks ran at once, measured where they ran.


def timed(seconds: float, memory: str | None = None, max_processes: int | None = None) -> Task:
    """Prints its own start and end (host clock, nanoseconds) around a sleep."""
    limits = {"memory": memory, "disk": "10MiB"} if memory else None
    if max_processes is not None:
        limits = {**(limits or {}), "max_processes": max_processes}
    return Task.model_validate(
        {"command": "sh", "args": ["-c", f"date +%s.%N; sleep {seconds}; date +%s.%N"], "limits": limits}
    )


def interval(result: TaskResult) -> tuple[float, float]:
    start, end = result.stdout.split()
    return float(start), float(end)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak
