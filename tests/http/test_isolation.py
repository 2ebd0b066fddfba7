"""Users are walled off from each other over HTTP: with only his own token, Bob can neither see, follow,
cancel nor read Alice's tasks, whether they are queued, running or finished, and whether they were
submitted through this app or through Ray. Every route that takes an id answers exactly as for an unknown
id, so ownership cannot be probed; only an admin token sees other users' task ids in /v1/cluster."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray
from cli_support import poll
from http_support import Api

from faber_ray import ExecutorConfig, Task, TaskExecutor
from faber_ray.scheduling.watchers import MAX_WATCHERS_PER_TASK

pytestmark = pytest.mark.usefixtures("nothing_pending")

SLEEPER = {"command": "sh", "args": ["-c", "echo secret-of-alice; sleep 300"]}


@pytest.fixture
def alice(api: Api) -> Iterator[httpx.Client]:
    with api.native() as client:
        yield client


@pytest.fixture
def bob(api: Api) -> Iterator[httpx.Client]:
    with api.native(api.other_token) as client:
        yield client


def _running(api: Api, execution_id: str) -> None:
    poll(lambda: execution_id in ray.get(api.executor.pending.remote())["running"], f"{execution_id} to run")


def _unknown(answer: httpx.Response, execution_id: str, unknown: httpx.Response) -> None:
    """An answer about someone else's task is exactly the answer about an id nobody knows."""
    assert answer.status_code == 404, answer.text
    assert answer.json() == {"detail": unknown.json()["detail"].replace("nonexistent-id", execution_id)}


def test_bob_cannot_read_follow_or_cancel_a_running_task_of_alice(
    api: Api, alice: httpx.Client, bob: httpx.Client
) -> None:
    (execution_id,) = alice.post("/v1/tasks", json=SLEEPER).json()["ids"]
    _running(api, execution_id)
    unknown_get = bob.get("/v1/tasks/nonexistent-id")
    _unknown(bob.get(f"/v1/tasks/{execution_id}"), execution_id, unknown_get)
    _unknown(bob.delete(f"/v1/tasks/{execution_id}"), execution_id, bob.delete("/v1/tasks/nonexistent-id"))
    _unknown(bob.get(f"/v1/tasks/{execution_id}/events"), execution_id, bob.get("/v1/tasks/nonexistent-id/events"))
    assert alice.get(f"/v1/tasks/{execution_id}").json() == {"state": "running"}  # untouched by Bob's cancel
    assert alice.delete(f"/v1/tasks/{execution_id}").json() == {"execution_id": execution_id, "cancelled": True}
    finished = poll(lambda: "status" in (body := alice.get(f"/v1/tasks/{execution_id}").json()) and body, "cancel")
    assert finished["error"].startswith("cancelled by TaskExecutor.cancel")
    _unknown(bob.get(f"/v1/tasks/{execution_id}"), execution_id, unknown_get)  # finished: still not his


def test_the_cluster_view_shows_task_ids_only_to_an_admin(api: Api, alice: httpx.Client, bob: httpx.Client) -> None:
    (execution_id,) = alice.post("/v1/tasks", json=SLEEPER).json()["ids"]
    _running(api, execution_id)
    try:
        seen = bob.get("/v1/cluster")
        assert seen.status_code == 200, seen.text
        assert execution_id not in seen.text
        workers = [worker for node in seen.json()["nodes"].values() for worker in node["workers"]]
        assert sum(worker["running"] for worker in workers) >= 1 and all("tasks" not in w for w in workers)
        with api.native(api.admin_token) as carol:
            assert execution_id in carol.get("/v1/cluster").text
    finally:
        alice.delete(f"/v1/tasks/{execution_id}")


def test_a_task_submitted_through_ray_is_as_private_as_one_submitted_over_http(
    api: Api, alice: httpx.Client, bob: httpx.Client
) -> None:
    """Outside the replica's book the executor itself checks the owner (``user=``)."""
    ids, refs = ray.get(api.executor.submit_with_ids.remote([Task(command="echo", args=["from ray"])], "alice"))
    result = ray.get(refs[0])
    assert bob.get(f"/v1/tasks/{ids[0]}").status_code == 404
    assert alice.get(f"/v1/tasks/{ids[0]}").json()["stdout"] == result.stdout == "from ray\n"
    assert ray.get(api.executor.get_result.remote(ids[0], "bob")) is None
    assert ray.get(api.executor.get_result.remote(ids[0], "alice")) == result
    assert ray.get(api.executor.get_result.remote(ids[0])) == result  # the cluster's own view sees all


def test_the_executor_filters_pending_and_refuses_cancel_and_watch_for_another_user(api: Api) -> None:
    ids, refs = ray.get(api.executor.submit_with_ids.remote([Task(command="sleep", args=["300"])], "alice"))
    _running(api, ids[0])
    try:
        assert ids[0] not in ray.get(api.executor.pending.remote("bob"))["running"]
        assert ids[0] in ray.get(api.executor.pending.remote("alice"))["running"]
        assert ray.get(api.executor.cancel.remote(ids[0], "bob")) is False
        with pytest.raises(Exception, match="no execution"):
            for ref in api.executor.watch.remote(ids[0], "bob"):
                ray.get(ref)
        assert ids[0] in ray.get(api.executor.pending.remote())["running"]  # Bob's cancel did nothing
    finally:
        assert ray.get(api.executor.cancel.remote(ids[0], "alice")) is True
    assert ray.get(refs[0]).status.value == "CANCELLED"


def test_bob_cannot_read_a_judge0_submission_of_alice(api: Api) -> None:
    body = {"source_code": "print(input())", "language_id": 71, "stdin": "alice-stdin", "expected_output": "x"}
    with api.judge0() as alice, api.judge0(api.other_token) as bob:
        token = alice.post("/submissions", params={"wait": "true"}, json=body).json()["token"]
        mine = alice.get(f"/submissions/{token}", params={"fields": "*"})
        assert mine.status_code == 200 and mine.json()["stdin"] == "alice-stdin"
        theirs = bob.get(f"/submissions/{token}", params={"fields": "*"})
        unknown = bob.get("/submissions/nonexistent-id", params={"fields": "*"})
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json() == {"error": unknown.json()["error"].replace("nonexistent-id", token)}
        assert "alice" not in theirs.text
        batch = bob.get("/submissions/batch", params={"tokens": f"{token},{token}", "fields": "*"})
        assert batch.status_code == 200 and batch.json() == {"submissions": [None, None]}


def test_the_executor_config_carries_no_usable_token(ray_cluster: Any) -> None:
    executor = TaskExecutor.remote(ExecutorConfig(api_tokens={"a-secret-token-123": "alice"}, max_concurrent_tasks=1))
    try:
        assert ray.get(executor.config.remote()).api_tokens is None
    finally:
        ray.get(executor.shutdown.remote())
        ray.kill(executor, no_restart=True)


def test_watchers_past_the_cap_get_429_and_leaving_frees_their_places(api: Api, alice: httpx.Client) -> None:
    (execution_id,) = alice.post("/v1/tasks", json=SLEEPER).json()["ids"]
    _running(api, execution_id)
    path = f"/v1/tasks/{execution_id}/events"
    try:
        with contextlib.ExitStack() as stack:
            for _ in range(MAX_WATCHERS_PER_TASK):
                assert stack.enter_context(alice.stream("GET", path)).status_code == 200
            refused = alice.get(path)
            assert refused.status_code == 429, refused.text
            assert "watchers" in refused.json()["detail"] and refused.headers["Retry-After"]
        with alice.stream("GET", path) as again:  # the places were given back as the clients left
            assert again.status_code == 200
    finally:
        alice.delete(f"/v1/tasks/{execution_id}")
