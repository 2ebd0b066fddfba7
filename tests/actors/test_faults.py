"""Faults, each really caused: a worker SIGKILLed mid-batch, a container killed from outside,
a task the engine cannot start. (Node removal is in test_multinode.py.)

Two executors share the module: ``retrying`` (max_infra_retries=1) and
``no_retry`` (max_infra_retries=0). One worker per node, four slots each, a
cap of four.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import Any

import docker
import pytest
import ray
from actor_support import (
    container_of, sleeper, sleeping, stats, vanished_image, view, wait_no_containers, wait_until, worker_names,
)

from faber_ray import SandboxError, Task, TaskStatus
from faber_ray.actors import NAMESPACE

CAP = 4


@pytest.fixture(scope="module")
def retrying(make_executor: Any) -> Any:
    return make_executor(max_concurrent_tasks=CAP, worker_pool_size=1, max_infra_retries=1)


@pytest.fixture(scope="module")
def no_retry(make_executor: Any) -> Any:
    return make_executor(max_concurrent_tasks=CAP, worker_pool_size=1, max_infra_retries=0)


def running_by_worker(executor: Any, names: set[str]) -> dict[str, set[str]]:
    """Worker name -> execution ids it runs now (the Scheduler's own view), for ``names`` only."""
    return {
        worker["name"]: set(worker["tasks"])
        for node in view(executor)["nodes"].values()
        for worker in node["workers"]
        if worker["name"] in names and worker["tasks"]
    }


def worker_pid(name: str) -> int:
    return int(ray.get(ray.get_actor(name, namespace=NAMESPACE).ready.remote(), timeout=60)["pid"])


def kill_busiest_worker_mid_batch(executor: Any, engine: docker.DockerClient) -> tuple[list[Any], str, set[str], int]:
    """Submit a batch, SIGKILL the worker running most of it; returns (refs, worker, its execution ids, old pid).

    refs[0] is a task that fails on its own and has finished before the kill.
    """
    names = set(worker_names(executor))
    sleepers = [sleeper(20) for _ in range(3)]
    refs = ray.get(executor.submit.remote([Task(command="sh", args=["-c", "exit 3"]), *sleepers]))
    failed = ray.get(refs[0], timeout=60)
    assert (failed.status, failed.exit_code) == (TaskStatus.FAILURE, 3)
    # All three placed and really running (their processes exist), so none is half-started.
    wait_until(lambda: len(sleeping(sleepers)) == 3, "three running sleepers")
    running = running_by_worker(executor, names)
    assert sum(map(len, running.values())) == 3
    victim = max(running, key=lambda name: len(running[name]))
    pid = worker_pid(victim)
    os.kill(pid, signal.SIGKILL)
    return refs, victim, running[victim], pid


def test_worker_killed_mid_batch_its_tasks_are_retried_and_it_is_replaced(
    retrying: Any, engine: docker.DockerClient
) -> None:
    before = stats(retrying)
    names = worker_names(retrying)
    refs, victim, lost, old_pid = kill_busiest_worker_mid_batch(retrying, engine)
    results = ray.get(refs, timeout=180)  # no ref hangs

    # The task that failed on its own ran once; it is not an infrastructure fault.
    assert (results[0].status, results[0].attempts) == (TaskStatus.FAILURE, 1)
    for result in results[1:]:
        assert result.status is TaskStatus.SUCCESS, result.error
        assert result.attempts == (2 if result.execution_id in lost else 1)

    # A replacement with the same name comes up on the same node, in a new process.
    wait_until(lambda: worker_names(retrying).get(victim) == names[victim], "the replacement worker")
    assert worker_pid(victim) != old_pid
    assert set(worker_names(retrying)) == set(names)

    # The dead worker's containers are reaped by a live one, asynchronously.
    wait_no_containers(engine)
    after = stats(retrying)
    assert after.total - before.total == 4
    assert ray.get(retrying.execute.remote([Task(command="echo", args=["after"])]))[0].stdout == "after\n"


def test_worker_killed_without_retries_left_its_tasks_end_in_error_naming_the_cause(
    no_retry: Any, engine: docker.DockerClient
) -> None:
    refs, victim, lost, _ = kill_busiest_worker_mid_batch(no_retry, engine)
    results = ray.get(refs, timeout=180)

    assert (results[0].status, results[0].attempts) == (TaskStatus.FAILURE, 1)
    for result in results[1:]:
        if result.execution_id in lost:
            assert (result.status, result.attempts) == (TaskStatus.ERROR, 1)
            assert victim in result.error and "was lost" in result.error
            assert "no infrastructure retries left" in result.error
        else:
            assert (result.status, result.attempts) == (TaskStatus.SUCCESS, 1)
    wait_until(lambda: victim in worker_names(no_retry), "the replacement worker")
    wait_no_containers(engine)


def test_container_killed_from_outside_ends_only_its_task(retrying: Any, engine: docker.DockerClient) -> None:
    target = sleeper(600)
    tasks = [target, Task(command="sleep", args=["2"]), Task(command="sleep", args=["2"]),
             Task(command="echo", args=["bystander"])]
    refs = ray.get(retrying.submit.remote(tasks))
    (pid,) = wait_until(lambda: sleeping([target]), "the 600 s sleeper")
    engine.api.kill(container_of(pid))
    results = ray.get(refs, timeout=120)  # far less than the 600 s the victim would have slept

    victim = results[0]
    assert victim.status is TaskStatus.ERROR  # its sandbox died under it: the infrastructure, not the task
    assert "the sandbox container stopped during the task" in (victim.error or "")
    assert victim.attempts == 1  # the task's own end, not a lost worker: no retry
    assert [(r.status, r.attempts) for r in results[1:]] == [(TaskStatus.SUCCESS, 1)] * 3
    assert results[3].stdout == "bystander\n"
    assert sleeping([target]) == []
    wait_no_containers(engine)


def test_an_image_no_node_has_is_refused_before_anything_runs(retrying: Any) -> None:
    before = stats(retrying)
    with pytest.raises(SandboxError) as caught:
        ray.get(retrying.execute.remote([Task(command="true"), Task(command="true", image="faber-ray/no-such-image:1")]))
    assert (caught.value.task_index, caught.value.field) == (1, "image")
    assert "faber-ray/no-such-image:1" in caught.value.reason and "docker pull" in caught.value.reason
    assert stats(retrying).total == before.total  # nothing of the batch ran


def test_an_image_removed_after_the_check_is_a_readable_error_and_the_workers_keep_serving(
    retrying: Any, engine: docker.DockerClient
) -> None:
    names = worker_names(retrying)
    pids = {name: worker_pid(name) for name in names}
    vanished_image(retrying, engine)
    # Six at once on a cap of four, so every worker meets the engine's refusal.
    # (Another disk than the first run's: a warm container of the image, still there, cannot serve them.)
    gone = Task.model_validate({"command": "true", "image": "faber-ray/soon-gone:1", "limits": {"disk": "24m"}})
    broken = ray.get(retrying.execute.remote([gone] * 6))
    for result in broken:
        assert (result.status, result.attempts, result.exit_code) == (TaskStatus.ERROR, 1, None)
        assert "faber-ray/soon-gone:1" in result.error and "not found" in result.error

    fine = ray.get(retrying.execute.remote([Task(command="echo", args=[str(i)]) for i in range(6)]))
    assert [(r.status, r.stdout) for r in fine] == [(TaskStatus.SUCCESS, f"{i}\n") for i in range(6)]
    assert worker_names(retrying) == names
    assert {name: worker_pid(name) for name in names} == pids  # no worker died or was replaced
    assert Counter(r.status for r in broken + fine) == {TaskStatus.ERROR: 6, TaskStatus.SUCCESS: 6}
