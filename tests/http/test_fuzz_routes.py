"""Odd input through the real routes: random task-like bodies never get a 500, and every 422 names a field.

The same strategies as tests/test_fuzz.py (JSON-safe: lone surrogates travel as
``\\ud800`` escapes, NaN as ``NaN``), sent as raw JSON to ``POST /v1/tasks``,
``POST /judge0/submissions`` and ``POST /judge0/submissions/batch`` of the
session's Serve app. Nothing may run: every body holds a poison that validation
refuses after everything else it checks (a task asking for the network, which
the test executor's config forbids, placed last in a batch), so each example
is a refusal that went through the whole translation and validation; the
executor's counters must not move.

A few hundred examples in all, deterministic (``derandomize``), so the suite
stays fast and CI reproducible.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import ray
from fuzz_support import dumps, judge0_submission, junk, plain_task, task_like
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from http_support import Api, pending

pytestmark = pytest.mark.usefixtures("nothing_pending")

HTTP_FUZZ = settings(
    max_examples=120, derandomize=True, database=None, deadline=None,
    suppress_health_check=list(HealthCheck),
)
JSON = {"content-type": "application/json"}
#: A task every check passes but the last: the test executor does not allow the network.
POISON = {"command": "echo", "network": True}
#: The same for Judge0 (refused, whatever base64_encoded says, before anything runs).
JUDGE0_POISON = {"source_code": "ZWNobw==", "language_id": 46, "enable_network": True}
HUGE_SIZE = "1" + "0" * 400


def _poisoned(task: Any) -> Any:
    return {**task, "network": True} if isinstance(task, dict) and "language" not in task else task


native_bodies = st.one_of(
    plain_task(json_safe=True).map(_poisoned),
    st.lists(task_like(json_safe=True), min_size=0, max_size=3).map(lambda tasks: {"tasks": [*tasks, POISON]}),
    st.dictionaries(st.text(max_size=6), junk(json_safe=True), max_size=3).map(_poisoned),
)


def _no_run(api: Api) -> Any:
    return ray.get(api.executor.stats.remote()).total


def _check_answer(answer: httpx.Response) -> Any:
    assert answer.status_code < 500, answer.text
    assert 400 <= answer.status_code < 500, f"a poisoned body was accepted: {answer.status_code} {answer.text}"
    return answer.json()


def test_native_route_answers_odd_bodies_with_422s_that_name_a_field(api: Api) -> None:
    before = _no_run(api)
    with api.native() as client:

        @HTTP_FUZZ
        @given(body=native_bodies)
        @example(body={"command": "echo", "limits": {"memory": HUGE_SIZE}, "network": True})
        @example(body={"tasks": [{"language": "python", "source": "x", "limits": [1]}, POISON]})
        @example(body={"tasks": [{"language": "python", "source": "x", "files": "x"}, POISON]})
        @example(body={"command": "\ud800", "network": True})
        @example(body={"command": "echo", "files": {"\ud800": "x"}, "network": True})
        @example(body={"tasks": [POISON, {"command": "echo", "image": "faber-ray/\ud800"}]})
        def one(body: dict[str, Any]) -> None:
            answer = client.post("/v1/tasks", content=dumps(body), headers=JSON)
            problem = _check_answer(answer)
            assert answer.status_code == 422, answer.text
            assert problem["field"] and problem["reason"] and problem["detail"], problem
            if "tasks" in body and isinstance(body["tasks"], list) and body["tasks"] and problem["field"] != "tasks":
                assert problem["task_index"] is not None, problem

        one()
    assert _no_run(api) == before, "a poisoned body ran something"
    assert pending(api) == {"queued": [], "running": []}


def _check_judge0_refusal(answer: httpx.Response, batch: bool) -> None:
    body = _check_answer(answer)
    if answer.status_code == 400:
        assert isinstance(body.get("error"), str) and len(body["error"].split()) >= 3, body
        return
    assert answer.status_code == 422, answer.text
    fields = {name: messages for name, messages in body.items() if name != "index"}
    assert len(fields) == 1, body
    [(field, messages)] = fields.items()
    assert field and isinstance(messages, list) and all(isinstance(m, str) and m for m in messages), body
    if batch:
        assert isinstance(body.get("index"), int), body


def test_judge0_submission_route_answers_odd_bodies_with_refusals_that_name_a_field(api: Api) -> None:
    before = _no_run(api)
    with api.judge0() as client:

        @HTTP_FUZZ
        @given(body=judge0_submission(json_safe=True), base64_encoded=st.booleans())
        @example(body={"source_code": "echo", "language_id": 46, "stdin": "\ud800"}, base64_encoded=False)
        @example(body={"source_code": "echo", "language_id": 46, "command_line_arguments": "\ud800"}, base64_encoded=False)
        def one(body: dict[str, Any], base64_encoded: bool) -> None:
            answer = client.post(
                "/submissions", params={"base64_encoded": str(base64_encoded).lower()},
                content=dumps({**body, "enable_network": True}), headers=JSON,
            )
            _check_judge0_refusal(answer, batch=False)

        one()
    assert _no_run(api) == before, "a poisoned submission ran something"


def test_judge0_batch_route_answers_odd_bodies_with_refusals_that_name_a_field(api: Api) -> None:
    before = _no_run(api)
    with api.judge0() as client:

        @HTTP_FUZZ
        @given(submissions=st.lists(judge0_submission(json_safe=True), max_size=3), base64_encoded=st.booleans())
        @example(submissions=[{"source_code": "echo", "language_id": 46, "memory_limit": 10**400}], base64_encoded=False)
        @example(submissions=[{"source_code": "echo", "language_id": 46, "stdin": "\ud800"}], base64_encoded=False)
        def one(submissions: list[dict[str, Any]], base64_encoded: bool) -> None:
            answer = client.post(
                "/submissions/batch", params={"base64_encoded": str(base64_encoded).lower()},
                content=dumps({"submissions": [*submissions, JUDGE0_POISON]}), headers=JSON,
            )
            _check_judge0_refusal(answer, batch=True)

        one()
    assert _no_run(api) == before, "a poisoned batch ran something"


@pytest.mark.parametrize(
    "task",
    [
        {"command": "echo", "limits": {"memory": HUGE_SIZE}},
        {"command": "echo", "limits": {"disk": 10**30}},
        {"command": "\ud800"},
        {"command": "echo", "stdin": "\ud800"},
        {"command": "echo", "env": {"A": "\udcff"}},
        {"language": "python", "source": "x", "limits": [1]},
        {"language": "python", "source": "x", "files": "x"},
    ],
    ids=["size-1e400", "disk-1e30", "surrogate-command", "surrogate-stdin", "surrogate-env", "lang-limits-list",
         "lang-files-str"],
)
def test_execute_through_ray_refuses_odd_tasks_with_an_executor_error(api: Api, task: dict[str, Any]) -> None:
    """Not a route: the executor behind them (a real actor on the session's cluster), as a Python caller
    uses it. Ray's wrapper of the refusal is an ExecutorError naming the task and the field."""
    from faber_ray.errors import ExecutorError, unwrap_error

    before = _no_run(api)
    with pytest.raises(ExecutorError) as caught:
        ray.get(api.executor.execute.remote([{"command": "true"}, task]))
    error = unwrap_error(caught.value)
    assert isinstance(error, ExecutorError), repr(caught.value)
    assert (error.task_index, bool(error.field)) == (1, True), repr(error)
    str(error).encode("utf-8")
    assert _no_run(api) == before
