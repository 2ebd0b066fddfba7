"""Faults of warm containers end as results, never as a lost task.

A warm container killed from outside while it sits idle is found dead when
it is next taken and replaced: the tasks run on live containers and nobody
sees the fault. A container start that fails gives its place in the pool
back, and every result says the mode that really ran.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import docker
import docker.errors
import pytest

from faber_ray.errors import SandboxError
from faber_ray.models import Task, TaskStatus
from faber_ray.sandbox import runner as runner_module
from faber_ray.sandbox.reaper import list_sandboxes
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

#: The start time of the container's PID 1: the same number means the same container.
WHO = Task(command="cut", args=["-d", " ", "-f22", "/proc/1/stat"])


@pytest.fixture(scope="module")
def sandbox_mode() -> str:
    """Warm mode alone (this overrides the suite's warm/fresh parameter)."""
    return "warm"


def _ours(docker_client: docker.DockerClient, runner: SandboxRunner) -> list[str]:
    return [box["id"] for box in list_sandboxes(docker_client, runner.node_id) if box["owner"] == runner.owner]


def test_warm_containers_killed_while_idle_are_replaced_unseen(
    make_runner: Callable[..., SandboxRunner], docker_client: docker.DockerClient
) -> None:
    runner = make_runner(max_concurrent_tasks=4, warm_idle_seconds=600)
    with ThreadPoolExecutor(4) as pool:  # four warm containers, idle now
        assert {r.status for r in pool.map(lambda _: runner.run(WHO), range(4))} == {TaskStatus.SUCCESS}
    idle = _ours(docker_client, runner)
    assert len(idle) == 4
    for container_id in idle:
        docker_client.api.kill(container_id)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: runner.run(WHO), range(8)))
    assert [(r.status, r.error) for r in results] == [(TaskStatus.SUCCESS, None)] * 8
    assert {r.sandbox for r in results} == {"warm"}
    assert not set(idle) & set(_ours(docker_client, runner))


def test_a_failed_container_start_gives_its_pool_place_back(
    make_runner: Callable[..., SandboxRunner], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = make_runner(max_concurrent_tasks=2)
    real_start = runner_module.SandboxContainer.start

    def refuse(*args: object, **kwargs: object) -> object:
        raise SandboxError("the engine refused the container (a test's fault)")

    monkeypatch.setattr(runner_module.SandboxContainer, "start", refuse)
    for _ in range(3):  # more faults than the pool has places
        failed = runner.run(WHO)
        assert failed.status is TaskStatus.ERROR and "a test's fault" in (failed.error or "")
    monkeypatch.setattr(runner_module.SandboxContainer, "start", real_start)
    first, second = runner.run(WHO), runner.run(WHO)
    assert (first.status, second.status) == (TaskStatus.SUCCESS, TaskStatus.SUCCESS)
    assert first.stdout == second.stdout, "the second task must reuse the first one's warm container"
    assert (first.sandbox, second.sandbox) == ("warm", "warm")
    assert runner.warm_containers() == 1


def test_a_container_that_dies_before_the_task_starts_is_retried_on_another(
    make_runner: Callable[..., SandboxRunner], docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A death between the liveness check and the task's start: the run is retried on a new container."""
    runner = make_runner(max_concurrent_tasks=1)
    assert runner.run(WHO).status is TaskStatus.SUCCESS
    (victim,) = _ours(docker_client, runner)
    real_take_stub = runner_module.SandboxContainer.take_stub

    def die_first(self: runner_module.SandboxContainer) -> int:
        if self.id == victim:
            docker_client.api.kill(self.id)  # dies after every check passed, before the task is sent
            try:
                docker_client.api.wait(self.id, timeout=30)
            except docker.errors.NotFound:
                pass  # removed already (auto_remove)
        return real_take_stub(self)

    monkeypatch.setattr(runner_module.SandboxContainer, "take_stub", die_first)
    result = runner.run(WHO)
    assert (result.status, result.error) == (TaskStatus.SUCCESS, None)
    assert victim not in _ours(docker_client, runner)
