"""The native API (/v1) through httpx against the real Serve app: submit, wait, poll, cancel, live output,
refusals (404, 422, 429), and a client that goes away cancelling what it waited for."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray
from cli_support import poll
from http_support import QUEUE_SIZE, Api, pending

pytestmark = pytest.mark.usefixtures("nothing_pending")


@pytest.fixture(scope="module")
def client(api: Api) -> Iterator[httpx.Client]:
    with api.native() as native:
        yield native


def echo(*words: str) -> dict[str, Any]:
    return {"command": "echo", "args": list(words)}


def result_of(client: httpx.Client, execution_id: str) -> dict[str, Any]:
    """Poll GET /v1/tasks/{id} until it holds a result (every answer before must be a state)."""
    def finished() -> dict[str, Any] | None:
        answer = client.get(f"/v1/tasks/{execution_id}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if "state" in body:
            assert body == {"state": "queued"} or body == {"state": "running"}, body
            return None
        return body

    found: dict[str, Any] = poll(finished, f"the result of {execution_id}")
    return found


def test_one_task_gives_its_id_and_polling_gives_its_result(client: httpx.Client) -> None:
    answer = client.post("/v1/tasks", json=echo("hello", "http"))
    assert answer.status_code == 202, answer.text
    (execution_id,) = answer.json()["ids"]
    result = result_of(client, execution_id)
    assert result["execution_id"] == execution_id
    assert (result["status"], result["stdout"], result["exit_code"]) == ("SUCCESS", "hello http\n", 0)


def test_a_batch_gives_ids_in_order_and_wait_gives_results_in_order(client: httpx.Client) -> None:
    tasks = [echo(str(number)) for number in range(8)]
    answer = client.post("/v1/tasks", json={"tasks": tasks})
    assert answer.status_code == 202, answer.text
    ids = answer.json()["ids"]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert [result_of(client, execution_id)["stdout"] for execution_id in ids] == [f"{n}\n" for n in range(8)]

    waited = client.post("/v1/tasks", params={"wait": "true"}, json={"tasks": tasks})
    assert waited.status_code == 200, waited.text
    assert [result["stdout"] for result in waited.json()["results"]] == [f"{n}\n" for n in range(8)]


def test_the_language_form_steps_and_collected_files(client: httpx.Client) -> None:
    language = {"language": "python", "source": "print(input()[::-1])", "stdin": "olleh\n"}
    steps = {
        "steps": [
            {"command": "sh", "args": ["-c", "printf '\\377\\000ok' > out.bin"]},
            {"command": "cat", "args": ["out.bin"]},
        ],
        "collect": ["out.bin"],
    }
    answer = client.post("/v1/tasks", params={"wait": "true"}, json={"tasks": [language, steps]})
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["results"]
    assert (first["status"], first["steps"][-1]["stdout"]) == ("SUCCESS", "hello\n")
    assert second["status"] == "SUCCESS" and len(second["steps"]) == 2
    # bytes are standard base64 in JSON, as the TaskResult model writes them
    assert base64.b64decode(second["files"]["out.bin"], validate=True) == b"\xff\x00ok"


def test_polling_says_queued_or_running_until_the_result(client: httpx.Client) -> None:
    (execution_id,) = client.post("/v1/tasks", json={"command": "sleep", "args": ["2"]}).json()["ids"]
    first = client.get(f"/v1/tasks/{execution_id}").json()
    assert first in ({"state": "queued"}, {"state": "running"})
    assert result_of(client, execution_id)["status"] == "SUCCESS"


def test_cancel_stops_a_running_task(client: httpx.Client) -> None:
    (execution_id,) = client.post("/v1/tasks", json={"command": "sleep", "args": ["300"]}).json()["ids"]
    poll(lambda: client.get(f"/v1/tasks/{execution_id}").json() == {"state": "running"}, "the task to run")
    cancelled = client.delete(f"/v1/tasks/{execution_id}")
    assert cancelled.status_code == 200 and cancelled.json() == {"execution_id": execution_id, "cancelled": True}
    assert result_of(client, execution_id)["status"] == "CANCELLED"
    again = client.delete(f"/v1/tasks/{execution_id}")
    assert again.status_code == 200 and again.json()["cancelled"] is False


def _events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    name = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            yield name or "message", json.loads(line[len("data: "):])


def test_live_output_arrives_before_the_task_ends(client: httpx.Client) -> None:
    program = "import time; print('first', flush=True); time.sleep(2); print('second', flush=True)"
    (execution_id,) = client.post("/v1/tasks", json={"command": "python3", "args": ["-c", program]}).json()["ids"]
    seen: list[tuple[str, Any]] = []
    with client.stream("GET", f"/v1/tasks/{execution_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for name, data in _events(response):
            if not seen:
                assert name == "stdout" and data == {"text": "first\n", "step": None}
                # The first chunk is here while the task still runs: it came as it was written.
                assert client.get(f"/v1/tasks/{execution_id}").json() == {"state": "running"}
            seen.append((name, data))
    assert [name for name, _ in seen] == ["stdout", "stdout", "result"]
    assert seen[1][1]["text"] == "second\n"
    assert seen[-1][1]["status"] == "SUCCESS" and seen[-1][1]["stdout"] == "first\nsecond\n"


def test_a_late_client_gets_the_result_event_alone(client: httpx.Client) -> None:
    (execution_id,) = client.post("/v1/tasks", json=echo("done")).json()["ids"]
    result_of(client, execution_id)
    with client.stream("GET", f"/v1/tasks/{execution_id}/events") as response:
        events = list(_events(response))
    assert [name for name, _ in events] == ["result"]
    assert events[0][1]["stdout"] == "done\n"


def test_unknown_ids_are_404(client: httpx.Client) -> None:
    for method, path in (("GET", "/v1/tasks/nope"), ("DELETE", "/v1/tasks/nope"), ("GET", "/v1/tasks/nope/events")):
        answer = client.request(method, path)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["detail"] == "no task nope is known (or its result has left the cache)"


@pytest.mark.parametrize(
    ("body", "index", "field", "words"),
    [
        ({"tasks": [echo("fine"), {"command": ""}]}, 1, "command", "command is empty"),
        ({"tasks": [echo("fine"), {"language": "cobol", "source": "x"}]}, 1, "language", "unknown language 'cobol'"),
        ({"command": "echo", "limits": {"timeout": -1}}, 0, "limits.timeout", "greater than"),
        ({"command": "echo", "limits": {"memory": 10**15}}, 0, "limits.memory", "ceiling"),
        ({"command": "echo", "args": "not a list"}, 0, "args", "list"),
        ({"tasks": []}, None, "tasks", "empty"),
    ],
)
def test_a_refusal_names_the_task_the_field_and_the_reason(
    client: httpx.Client, body: dict[str, Any], index: int | None, field: str | None, words: str
) -> None:
    answer = client.post("/v1/tasks", json=body)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert (problem["task_index"], problem["field"]) == (index, field), problem
    assert words in problem["reason"] and problem["reason"] in problem["detail"], problem


def test_a_batch_the_queue_cannot_take_now_is_429_and_nothing_runs(api: Api, client: httpx.Client) -> None:
    before = ray.get(api.executor.stats.remote()).total
    answer = client.post("/v1/tasks", json={"tasks": [{"command": "true"}] * (QUEUE_SIZE + 1)})
    assert answer.status_code == 429, answer.text
    assert answer.headers["retry-after"] == "1"
    assert "queue is full" in answer.json()["detail"]
    assert pending(api) == {"queued": [], "running": []}
    assert ray.get(api.executor.stats.remote()).total == before


def _running_id(api: Api) -> str:
    found: list[str] = poll(lambda: pending(api)["running"], "the task to run")
    return found[0]


def test_a_client_that_stops_waiting_cancels_its_tasks(api: Api) -> None:
    failures: list[BaseException] = []

    def wait_briefly() -> None:
        with api.native(timeout=3) as impatient:
            try:
                impatient.post("/v1/tasks", params={"wait": "true"}, json={"command": "sleep", "args": ["300"]})
            except httpx.ReadTimeout:
                return
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)
        failures.append(AssertionError("the wait=true request for a 300 s task answered within 3 s"))

    waiter = threading.Thread(target=wait_briefly)
    waiter.start()
    execution_id = _running_id(api)
    waiter.join()
    assert not failures, failures
    result = poll(lambda: ray.get(api.executor.get_result.remote(execution_id)), "the CANCELLED result")
    assert result.status.value == "CANCELLED"


def test_a_watcher_that_goes_away_cancels_its_task(api: Api, client: httpx.Client) -> None:
    """Only the owner can follow a task (another user gets 404: tests/http/test_isolation.py), and the
    owner's client going away cancels it."""
    (execution_id,) = client.post("/v1/tasks", json={"command": "sleep", "args": ["300"]}).json()["ids"]
    _running_id(api)
    with client.stream("GET", f"/v1/tasks/{execution_id}/events") as response:
        assert response.status_code == 200
        assert execution_id in pending(api)["running"]
    result = poll(lambda: ray.get(api.executor.get_result.remote(execution_id)), "the CANCELLED result")
    assert result.status.value == "CANCELLED"


def test_stats_cluster_and_languages(client: httpx.Client) -> None:
    stats = client.get("/v1/stats")
    assert stats.status_code == 200 and {"total", "by_status", "queued", "running"} <= set(stats.json())
    cluster = client.get("/v1/cluster")
    assert cluster.status_code == 200 and len(cluster.json()["nodes"]) >= 1
    languages = {entry["name"]: entry for entry in client.get("/v1/languages").json()}
    assert {"python", "c", "cpp", "java", "javascript", "go", "rust", "bash"} <= set(languages)
    assert languages["cpp"]["image"] == "faber-ray/gcc:12" and languages["python"]["compile"] is None


def test_the_openapi_schema_and_docs_are_served(api: Api) -> None:
    schema = httpx.get(f"{api.url}/openapi.json").json()
    assert {"/v1/tasks", "/v1/tasks/{execution_id}", "/judge0/submissions"} <= set(schema["paths"])
    assert httpx.get(f"{api.url}/docs").status_code == 200
