"""Bad input over HTTP: schemathesis against /openapi.json, and hand-made bad bodies.

Schemathesis generates requests for every operation from the schema the app
serves and checks each answer: never a 5xx, and always a status code, a
content type and a body that the schema documents. The task bodies are typed
(a Task, the language form, a batch; a Judge0 submission), so it sends valid
tasks and submissions too, and wrong types in each field (negative mode). It
is bounded and deterministic (12 examples per operation, derandomized): the few
valid ones run in the sandbox like any user's, briefly.

The hand-made cases must each get a 4xx whose body is a sentence, and leave
nothing behind: no task is counted, queued or running afterwards.
"""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray
import schemathesis
from http_support import MAX_BODY_BYTES, Api, pending
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.usefixtures("nothing_pending")


@pytest.fixture(scope="module")
def served_schema(api: Api) -> Any:
    return schemathesis.openapi.from_url(f"{api.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("served_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_answers_and_no_5xx(case: Any, api: Api) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {api.token}", "X-Auth-Token": api.token},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        timeout=60,
    )


@pytest.fixture
def leaves_nothing(api: Api) -> Iterator[None]:
    before = ray.get(api.executor.stats.remote()).total
    yield
    assert ray.get(api.executor.stats.remote()).total == before, "a refused request ran something"
    assert pending(api) == {"queued": [], "running": []}


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _zip(names: dict[str, bytes]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in names.items():
            archive.writestr(name, data)
    return b64(buffer.getvalue())


def _sentence(text: str) -> None:
    assert len(text.split()) >= 3 and "Traceback" not in text, text


@pytest.mark.usefixtures("leaves_nothing")
def test_an_oversized_body_is_413_with_a_sentence(api: Api) -> None:
    huge = {"command": "echo", "stdin": "x" * (MAX_BODY_BYTES + 1)}
    with api.native() as native:
        answer = native.post("/v1/tasks", json=huge)
    assert answer.status_code == 413, answer.text
    assert answer.json()["detail"] == f"the request body is larger than {MAX_BODY_BYTES} bytes, the most this API takes"
    with api.judge0() as judge:
        answer = judge.post("/submissions", json={"source_code": "x" * (MAX_BODY_BYTES + 1), "language_id": 71})
    assert answer.status_code == 413 and "larger than" in answer.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is found while reading
        yield b'{"command": "echo", "stdin": "'
        for _ in range(MAX_BODY_BYTES // 2**20 + 1):
            yield b"x" * 2**20
        yield b'"}'

    with api.native() as native:
        answer = native.post("/v1/tasks", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and "larger than" in answer.json()["detail"], answer.text


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize(
    ("content", "headers", "words"),
    [
        (b"{not json", {"content-type": "application/json"}, "not valid JSON"),
        (b'{"command": "echo"}', {"content-type": "text/plain"}, "body"),
        (b"[1, 2]", {"content-type": "application/json"}, "body"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_422(api: Api, content: bytes, headers: dict[str, str], words: str) -> None:
    with api.native() as native:
        answer = native.post("/v1/tasks", content=content, headers=headers)
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["detail"]
    _sentence(answer.json()["detail"])


@pytest.mark.usefixtures("leaves_nothing")
@pytest.mark.parametrize(
    ("submission", "field", "words"),
    [
        ({"source_code": "!!not base64!!", "language_id": 71}, "source_code", "base64"),
        ({"source_code": b64("print(1)"), "language_id": 71, "stdin": "%%%"}, "stdin", "base64"),
        ({"source_code": b64("print(1)"), "language_id": 71, "additional_files": b64("not a zip")}, "additional_files", "zip"),
        ({"source_code": b64("print(1)"), "language_id": 71, "additional_files": "@@@"}, "additional_files", "base64"),
        ({"source_code": b64("print(1)"), "language_id": 4242}, "language_id", "4242"),
        ({"source_code": b64("print(1)"), "language_id": 71, "memory_limit": -1}, "memory_limit", "greater than zero"),
        ({"source_code": b64("print(1)"), "language_id": 71, "cpu_time_limit": 10**9}, "cpu_time_limit", "maximum"),
        ({"source_code": b64("print(1)"), "language_id": 71, "wall_time_limit": "soon"}, "wall_time_limit", "number"),
        ({"source_code": b64("print(1)"), "language_id": 71, "max_file_size": 10**12}, "max_file_size", "maximum"),
        ({"source_code": b64("print(1)"), "language_id": 71, "enable_network": True}, "enable_network", "network"),
    ],
)
def test_bad_judge0_submissions_are_422_naming_the_field(
    api: Api, submission: dict[str, Any], field: str, words: str
) -> None:
    with api.judge0() as judge:
        answer = judge.post("/submissions", params={"base64_encoded": "true"}, json=submission)
    assert answer.status_code == 422, answer.text
    messages = answer.json()[field]
    assert words in messages[0], messages
    _sentence(messages[0])


@pytest.mark.usefixtures("leaves_nothing")
def test_a_batch_with_one_bad_submission_is_refused_whole(api: Api) -> None:
    good = {"source_code": "echo hi", "language_id": 46}
    zipped = _zip({"../escape.txt": b"x"})
    with api.judge0() as judge:
        answer = judge.post("/submissions/batch", json={"submissions": [good, good, {**good, "additional_files": zipped}]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["index"] == 2 and "additional_files" in answer.json()


@pytest.mark.usefixtures("leaves_nothing")
def test_bad_query_parameters_are_4xx_with_a_sentence(api: Api) -> None:
    with api.native() as native:
        answer = native.post("/v1/tasks", params={"wait": "perhaps"}, json={"command": "echo"})
    assert answer.status_code == 422 and "wait" in answer.json()["detail"]
    with api.judge0() as judge:
        too_many = judge.get("/submissions/batch", params={"tokens": ",".join(["t"] * 21)})
        assert too_many.status_code == 400, too_many.text
        _sentence(too_many.json()["error"])
        assert judge.get("/languages/seventy-one").status_code == 422


def test_no_route_and_wrong_method_answer_sentences(api: Api) -> None:
    with api.native() as native:
        missing = native.get("/v2/tasks")
        assert missing.status_code == 404 and missing.json()["detail"] == "there is no route GET /v2/tasks"
        wrong = native.put("/v1/tasks")
        assert wrong.status_code == 405 and "PUT" in wrong.json()["detail"]
    assert httpx.get(f"{api.url}/healthz").json()["status"] == "ok"
