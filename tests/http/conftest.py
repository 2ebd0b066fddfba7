"""A real Serve application on loopback, in front of a real executor on the session's Ray cluster.

One app serves the whole session (Serve takes a few seconds to start): a
small executor (4 tasks at once, a queue of 64, warm sandboxes) named in
faber-ray's namespace, and the app on a free port of 127.0.0.1 with two
tokens, for the users "alice" and "bob", an admin token for "carol", and an 8 MiB body limit (so the
oversized-body tests need not send 32 MiB). At the end the app and Serve are
removed and the executor's shutdown must leave no container of its workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import docker
import httpx
import pytest
import ray
from cli_support import free_port, poll
from http_support import EXECUTOR_NAME, MAX_BODY_BYTES, MAX_CONCURRENT, QUEUE_SIZE, QUEUED_PER_USER, Api, pending
from ray.cluster_utils import Cluster

from faber_ray import ExecutorConfig, TaskExecutor
from faber_ray.http.serving import deploy, undeploy
from faber_ray.http.auth import TokenTable
from faber_ray.sandbox.labels import LABEL, LABEL_OWNER

def _worker_names(executor: Any) -> set[str]:
    view = ray.get(executor.cluster.remote())
    return {worker["name"] for node in view["nodes"].values() for worker in node["workers"]}


@pytest.fixture(scope="session")
def http_executor(ray_cluster: Cluster, docker_client: docker.DockerClient) -> Iterator[Any]:
    executor = TaskExecutor.options(name=EXECUTOR_NAME).remote(
        ExecutorConfig(
            max_concurrent_tasks=MAX_CONCURRENT, queue_size=QUEUE_SIZE, max_queued_per_user=QUEUED_PER_USER,
            sandbox_mode="warm", callback_hosts=["127.0.0.1"],  # the callback tests' server, on loopback
        )
    )
    ray.get(executor.cluster.remote())
    workers = _worker_names(executor)
    yield executor
    try:
        ray.get(executor.shutdown.remote(), timeout=120)
    finally:
        left = [
            box for box in docker_client.api.containers(all=True, filters={"label": [LABEL]})
            if box["Labels"].get(LABEL_OWNER) in workers
        ]
        ray.kill(executor, no_restart=True)
        for box in left:
            docker_client.api.remove_container(box["Id"], force=True)
    assert left == [], f"the HTTP tests' executor left containers: {[box['Id'][:12] for box in left]}"


@pytest.fixture(scope="session")
def api(http_executor: Any) -> Iterator[Api]:
    token, other = "alice-token-0123456789", "bob-token-0123456789"
    port = free_port()
    from ray import serve

    deploy(
        EXECUTOR_NAME,
        TokenTable.from_tokens({
            token: "alice", other: "bob", Api.admin_token: {"user": "carol", "admin": True},
            Api.priority_token: {"user": "dave", "priority": 2},
        }),
        host="127.0.0.1", port=port,
        max_body_bytes=MAX_BODY_BYTES,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: _healthy(url), "the Serve app to answer /healthz")
        yield Api(url, token, other, http_executor)
    finally:
        undeploy(stop_serve=True)
        serve.shutdown()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def nothing_pending(api: Api) -> Iterator[None]:
    """A test must not leave tasks of the shared executor queued or running (they are cancelled after a
    failure, so one test does not cascade into the next)."""
    yield
    left: dict[str, list[str]] = {}

    def settled() -> bool:
        left.update(pending(api))
        return not left["queued"] and not left["running"]

    try:
        poll(settled, "the test's tasks to finish", 30)
    except pytest.fail.Exception:
        pass
    ids = [*left["queued"], *left["running"]]
    for execution_id in ids:
        ray.get(api.executor.cancel.remote(execution_id))
    assert ids == [], f"tasks left pending: {left}"
