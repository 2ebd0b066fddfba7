"""The official Judge0 SDK (judge0 0.0.8), unchanged, against the real Serve app's /judge0.

Everything here goes through the SDK's own calls and its own polling
(``judge0.run`` submits with ``POST /submissions/batch`` and polls
``GET /submissions/batch?fields=*`` every 0.1 s), with Judge0's
``X-Auth-Token`` header.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import judge0
import pytest
import ray
from http_support import Api

pytestmark = pytest.mark.usefixtures("nothing_pending")

CPP_HELLO = '#include <iostream>\nint main() { std::string s; std::cin >> s; std::cout << "hi " << s << std::endl; }\n'


@pytest.fixture(scope="module")
def client(api: Api) -> Iterator[judge0.Client]:
    # The constructor reads /languages and /config_info (and fails as "Authentication failed" otherwise).
    yield judge0.Client(endpoint=f"{api.url}/judge0", headers={"X-Auth-Token": api.token})


def test_a_wrong_token_fails_as_the_sdk_reports_it(api: Api) -> None:
    with pytest.raises(RuntimeError, match="Authentication failed"):
        judge0.Client(endpoint=f"{api.url}/judge0", headers={"X-Auth-Token": "wrong-token-0000"})


def test_languages_statuses_about_and_config(client: judge0.Client) -> None:
    ids = {language.id: language.name for language in client.get_languages()}
    assert {46, 50, 54, 60, 62, 63, 71, 73} <= set(ids)
    assert ids[71].startswith("Python") and ids[54].startswith("C++")
    assert client.get_language(71).name == ids[71]
    statuses = {status["id"]: status["description"] for status in client.get_statuses()}
    assert statuses[3] == "Accepted" and statuses[6] == "Compilation Error" and len(statuses) == 14
    assert client.version == "1.13.1"
    assert client.config.max_submission_batch_size == 20
    assert client.is_language_supported(judge0.PYTHON) and client.is_language_supported(judge0.CPP)


def test_python_runs(client: judge0.Client) -> None:
    submission = judge0.run(client=client, source_code="print('hello from judge0')", language=judge0.PYTHON)
    assert submission.status == judge0.Status.ACCEPTED, submission
    assert submission.stdout == "hello from judge0\n"
    assert submission.time is not None and submission.memory is not None and submission.finished_at is not None


def test_cpp_compiles_and_runs(client: judge0.Client) -> None:
    submission = judge0.run(client=client, source_code=CPP_HELLO, language=judge0.CPP, stdin="there")
    assert submission.status == judge0.Status.ACCEPTED, submission
    assert submission.stdout == "hi there\n"


def test_test_cases_with_expected_output_are_accepted_or_wrong_answer(client: judge0.Client) -> None:
    results = judge0.run(
        client=client, source_code="print(int(input()) * 2)", language=judge0.PYTHON,
        test_cases=[("2", "4"), ("5", "10\n"), ("3", "7")],
    )
    assert [result.status for result in results] == [
        judge0.Status.ACCEPTED, judge0.Status.ACCEPTED, judge0.Status.WRONG_ANSWER,
    ]
    assert [result.stdout for result in results] == ["4\n", "10\n", "6\n"]


def test_a_compile_error_gives_the_compiler_output(client: judge0.Client) -> None:
    submission = judge0.run(client=client, source_code="int main() { return missing; }\n", language=judge0.CPP)
    assert submission.status == judge0.Status.COMPILATION_ERROR, submission
    assert "missing" in (submission.compile_output or "")
    assert submission.stdout is None


def test_a_timeout_is_time_limit_exceeded(client: judge0.Client) -> None:
    submission = judge0.run(
        client=client, source_code="while True:\n    pass\n", language=judge0.PYTHON, cpu_time_limit=1,
    )
    assert submission.status == judge0.Status.TIME_LIMIT_EXCEEDED, submission


def test_a_batch_of_30_comes_back_in_order(api: Api, client: judge0.Client) -> None:
    before = ray.get(api.executor.stats.remote()).total
    submissions = [
        judge0.Submission(source_code=f"echo {number}", language=judge0.BASH, expected_output=str(number))
        for number in range(30)
    ]
    results = judge0.run(client=client, submissions=submissions)  # two batches: the SDK chunks by 20
    assert [result.stdout for result in results] == [f"{number}\n" for number in range(30)]
    assert {result.status for result in results} == {judge0.Status.ACCEPTED}
    # each token is an execution id of the executor: get_result finds it, stats count it
    tokens = [str(result.token) for result in results]
    assert len(set(tokens)) == 30
    found = ray.get(api.executor.get_result.remote(tokens[7]))
    assert found is not None and found.execution_id == tokens[7]
    assert ray.get(api.executor.stats.remote()).total >= before + 30


def test_get_submission_by_token_with_fields_and_base64(api: Api, client: judge0.Client) -> None:
    submission = judge0.run(client=client, source_code="print('é')", language=judge0.PYTHON)
    with api.judge0() as raw:
        plain = raw.get(f"/submissions/{submission.token}", params={"fields": "stdout,status,token"})
        assert plain.status_code == 200, plain.text
        assert plain.json() == {
            "stdout": "é\n", "status": {"id": 3, "description": "Accepted"}, "token": str(submission.token),
        }
        encoded = raw.get(f"/submissions/{submission.token}", params={"fields": "stdout", "base64_encoded": "true"})
        assert encoded.json() == {"stdout": "w6kK"}
        bad = raw.get(f"/submissions/{submission.token}", params={"fields": "stdout,nonsense"})
        assert bad.status_code == 400 and "nonsense" in bad.json()["error"]
        missing = raw.get("/submissions/0123456789abcdef0123456789abcdef")
        assert missing.status_code == 404


def test_wait_true_answers_the_judged_submission(api: Api) -> None:
    with api.judge0() as raw:
        answer = raw.post(
            "/submissions", params={"wait": "true"},
            json={"source_code": "print(input())", "language_id": 71, "stdin": "x", "expected_output": "x"},
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == {"id": 3, "description": "Accepted"}
        assert answer.json()["stdout"] == "x\n"


def test_a_full_queue_is_503_queue_is_full(api: Api) -> None:
    """The executor's queue (64) cannot take 20 more while 4 run and 60 wait: Judge0's answer. (Two users
    fill it, each under the per-user quota of 48.)"""
    with api.judge0() as raw, api.native() as native, api.native(api.other_token) as bob:
        sleep = {"tasks": [{"command": "sleep", "args": ["300"]}] * 32}
        sleepers = [(native, i) for i in native.post("/v1/tasks", json=sleep).json()["ids"]]
        sleepers += [(bob, i) for i in bob.post("/v1/tasks", json=sleep).json()["ids"]]
        try:
            body = {"submissions": [{"source_code": "echo x", "language_id": 46}] * 20}
            answer = raw.post("/submissions/batch", json=body)
            assert answer.status_code == 503, answer.text
            assert answer.json() == {"error": "queue is full"}
        finally:
            for client, execution_id in sleepers:
                client.delete(f"/v1/tasks/{execution_id}")


def test_http_errors_read_as_judge0s(api: Api) -> None:
    with httpx.Client(base_url=f"{api.url}/judge0", timeout=30) as anonymous:
        assert anonymous.get("/languages").status_code == 401
    with api.judge0() as raw:
        unknown = raw.post("/submissions", json={"source_code": "x", "language_id": 9999})
        assert unknown.status_code == 422 and "9999" in unknown.json()["language_id"][0]
        assert raw.get("/languages/9999").status_code == 404
