"""Load: 1,000 Judge0 submissions from 16 concurrent clients; every one comes back with its own answer.

Each client is a thread with its own httpx connection. It submits its share
in batches of 20 (``POST /submissions/batch``), as a Judge0 client would,
retrying a batch the executor's queue (64) cannot take now (503
``queue is full``), and polls ``GET /submissions/batch`` until each of its
submissions is judged. Each program prints its own number and says which
number it expects, so a result that went to the wrong submission is a Wrong
Answer, and a lost one never finishes. The executor must have counted exactly
1,000 more tasks: nothing lost, nothing run twice.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import httpx
import pytest
import ray
from http_support import Api

pytestmark = pytest.mark.usefixtures("nothing_pending")

SUBMISSIONS = 1000
CLIENTS = 16
BATCH = 20


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _client_run(api: Api, numbers: list[int], answers: dict[int, dict[str, Any]], refusals: list[int]) -> None:
    with httpx.Client(base_url=f"{api.url}/judge0", headers={"X-Auth-Token": api.token}, timeout=120) as client:
        tokens: dict[str, int] = {}
        for start in range(0, len(numbers), BATCH):
            chunk = numbers[start:start + BATCH]
            body = {"submissions": [
                {"source_code": b64(f"echo {number}"), "language_id": 46, "expected_output": b64(f"{number}\n")}
                for number in chunk
            ]}
            while True:
                created = client.post("/submissions/batch", params={"base64_encoded": "true"}, json=body)
                if created.status_code != 503:
                    break
                assert created.json() == {"error": "queue is full"}
                refusals.append(len(chunk))
                time.sleep(0.2)
            assert created.status_code == 201, created.text
            tokens.update({entry["token"]: number for entry, number in zip(created.json(), chunk)})
        waiting = list(tokens)
        while waiting:
            still = []
            for start in range(0, len(waiting), BATCH):
                chunk = waiting[start:start + BATCH]
                polled = client.get("/submissions/batch", params={
                    "tokens": ",".join(chunk), "base64_encoded": "true", "fields": "token,status,stdout",
                })
                assert polled.status_code == 200, polled.text
                for token, submission in zip(chunk, polled.json()["submissions"]):
                    assert submission is not None and submission["token"] == token
                    if submission["status"]["id"] in (1, 2):
                        still.append(token)
                    else:
                        answers[tokens[token]] = submission
            waiting = still
            if waiting:
                time.sleep(0.25)


@pytest.mark.timeout(900)
def test_1000_submissions_from_16_clients_all_come_back_right(api: Api) -> None:
    before = ray.get(api.executor.stats.remote()).total
    answers: dict[int, dict[str, Any]] = {}
    refusals: list[int] = []
    failures: list[BaseException] = []

    def client(numbers: list[int]) -> None:
        try:
            _client_run(api, numbers, answers, refusals)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            failures.append(error)

    threads = [
        threading.Thread(target=client, args=(list(range(index, SUBMISSIONS, CLIENTS)),)) for index in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    assert sorted(answers) == list(range(SUBMISSIONS))
    wrong = {number: answer for number, answer in answers.items()
             if answer["status"]["id"] != 3 or base64.b64decode(answer["stdout"]) != f"{number}\n".encode()}
    assert wrong == {}, list(wrong.items())[:5]
    assert ray.get(api.executor.stats.remote()).total == before + SUBMISSIONS
    print(f"\n{SUBMISSIONS} submissions; {len(refusals)} batch(es) were refused with 'queue is full' and retried")
