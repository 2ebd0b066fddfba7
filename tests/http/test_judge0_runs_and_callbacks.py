"""Judge0's expected_output, number_of_runs and callback_url against the real Serve app, with the official SDK
(judge0 0.0.8) and plain httpx.

The callback server is a small HTTP server on 127.0.0.1, which the session's executor allows
(``callback_hosts=["127.0.0.1"]`` in conftest.py); each test waits on an event set by the ``PUT``, never a sleep.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import judge0
import pytest
from http_support import Api

pytestmark = pytest.mark.usefixtures("nothing_pending")


class Hook:
    """What the callback server received: (method, path, headers, body) per request, and an event per path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, str], Any]] = []
        self.events: dict[str, threading.Event] = {}
        self.failures_left: dict[str, int] = {}  # a path answered 503 this many times first
        self.lock = threading.Lock()

    def event(self, path: str) -> threading.Event:
        with self.lock:
            return self.events.setdefault(path, threading.Event())


@pytest.fixture(scope="module")
def hook() -> Iterator[tuple[Hook, str]]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # noqa: N802 - the name http.server calls
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.received.append(("PUT", self.path, dict(self.headers), body))
                failing = state.failures_left.get(self.path, 0)
                state.failures_left[self.path] = max(0, failing - 1)
            self.send_response(503 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if not failing:
                state.event(self.path).set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def client(api: Api) -> Iterator[judge0.Client]:
    yield judge0.Client(endpoint=f"{api.url}/judge0", headers={"X-Auth-Token": api.token})


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_config_info_reports_callbacks_and_runs(client: judge0.Client) -> None:
    assert client.config.enable_callbacks and client.config.max_number_of_runs == 10
    assert client.config.callbacks_max_tries == 3


def test_expected_output_is_one_test_judged_by_lines(client: judge0.Client) -> None:
    right, wrong = judge0.run(client=client, submissions=[
        judge0.Submission(source_code="print(input(), '  ')\nprint()", language=judge0.PYTHON, stdin="7",
                          expected_output="7"),
        judge0.Submission(source_code="print(input())", language=judge0.PYTHON, stdin="7", expected_output="8"),
    ])
    assert right.status == judge0.Status.ACCEPTED, right  # trailing spaces and a blank line: Judge0's comparison
    assert right.stdout == "7   \n\n"  # the run's whole stdout, as Judge0 shows it
    assert (wrong.status, wrong.stdout) == (judge0.Status.WRONG_ANSWER, "7\n"), wrong


def test_number_of_runs_runs_the_program_that_many_times(api: Api, client: judge0.Client) -> None:
    # Each run appends to a file in /tmp; the workspace is restored between runs, so each sees it empty:
    # the count is of runs that really happened, and every one of them printed "1".
    source = "import os\nopen('/tmp/n', 'a').write('x')\nprint(os.path.getsize('/tmp/n'))\nprint(input())\n"
    submission = judge0.run(client=client, submissions=judge0.Submission(
        source_code=source, language=judge0.PYTHON, stdin="ok", expected_output="1\nok", number_of_runs=3))
    assert submission.status == judge0.Status.ACCEPTED, submission
    assert submission.time is not None and submission.memory is not None
    with api.native() as native:
        result = native.get(f"/v1/tasks/{submission.token}").json()
    tests = result["tests"]
    assert [test["verdict"] for test in tests] == ["ACCEPTED"] * 3
    assert abs(float(submission.time) - sum(test["time"] for test in tests) / 3) < 0.002
    assert abs(submission.memory - sum(test["memory"] for test in tests) / 3 / 1024) <= 1


def test_a_callback_url_gets_the_submissions_json_by_put(hook: tuple[Hook, str], client: judge0.Client) -> None:
    state, base = hook
    submission = judge0.Submission(source_code="print(input())", language=judge0.PYTHON, stdin="hello",
                                   expected_output="hello", callback_url=f"{base}/done/1")
    client.create_submission(submission)
    assert state.event("/done/1").wait(60), state.received
    method, path, headers, body = next(one for one in state.received if one[1] == "/done/1")
    assert (method, headers["Content-Type"]) == ("PUT", "application/json")
    # Judge0's callback: the fields of a GET without fields=, text in base64.
    assert set(body) == {"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}
    assert body["token"] == str(submission.token) and body["status"] == {"id": 3, "description": "Accepted"}
    assert base64.b64decode(body["stdout"]) == b"hello\n"


def test_a_failing_callback_is_tried_again(hook: tuple[Hook, str], api: Api) -> None:
    state, base = hook
    with state.lock:
        state.failures_left["/flaky"] = 2  # the third try, the last Judge0 makes, succeeds
    with api.judge0() as raw:
        answer = raw.post("/submissions", json={"source_code": "echo 1", "language_id": 46,
                                                "callback_url": f"{base}/flaky"})
        assert answer.status_code == 201, answer.text
    assert state.event("/flaky").wait(60), state.received
    assert [one[1] for one in state.received].count("/flaky") == 3


def test_a_callback_url_outside_callback_hosts_is_422(api: Api) -> None:
    with api.judge0() as raw:
        for url in ("http://example.com/hook", "http://10.1.2.3:8080/hook", "file:///etc/passwd"):
            answer = raw.post("/submissions", json={"source_code": "echo 1", "language_id": 46, "callback_url": url})
            assert answer.status_code == 422, answer.text
            assert list(answer.json()) == ["callback_url"], answer.json()
        batch = raw.post("/submissions/batch", json={"submissions": [
            {"source_code": b64("echo 1"), "language_id": 46},
            {"source_code": b64("echo 2"), "language_id": 46, "callback_url": "http://example.com/"},
        ]}, params={"base64_encoded": "true"})
        assert batch.status_code == 422 and batch.json()["index"] == 1 and "callback_url" in batch.json()
        too_many = raw.post("/submissions", json={"source_code": "echo 1", "language_id": 46, "number_of_runs": 11})
        assert too_many.status_code == 422 and list(too_many.json()) == ["number_of_runs"]
