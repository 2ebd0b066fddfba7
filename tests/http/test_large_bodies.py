"""A large body is decoded and checked off the replica's event loop: others are answered meanwhile.

The body is a batch of 600 tasks with 1,000 tiny files each (about 5 MiB,
under the session app's 8 MiB limit). Decoding and checking it takes the
replica a second or more of CPU, and its last task has an empty command, so
the check refuses it (a 422) straight from the replica, and nothing reaches
the executor.

The body is sent whole on a raw socket; only then does another client ask
``GET /v1/stats``, three times in a row, each request sent once the previous
answer is in. All three answers must come before the big one. Order is
measured, never time. Before the fix the replica's one event loop decoded and
checked the body itself: a stats request may slip in while the body is
relayed to the replica, but the next one reached a busy loop, waited for the
check to end and then for its own round trip to the executor, so the refusal
came first.

Judge0's routes decode and check through the same helper
(:func:`faber_ray.http.bodies.parse_json_body`); their largest batch (20
submissions) checks too fast to race against, so they get a functional test.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import zipfile
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from http_support import DEADLINE, MAX_BODY_BYTES, Api

pytestmark = pytest.mark.usefixtures("nothing_pending")

TASKS = 600
STATS_IN_A_ROW = 3
FILES = 1000


def _native_body() -> tuple[str, bytes, dict[str, str]]:
    task = {"command": "true", "files": {str(number): "" for number in range(FILES)}}
    body = {"tasks": [task] * (TASKS - 1) + [{**task, "command": ""}]}
    return "/v1/tasks", json.dumps(body, separators=(",", ":")).encode(), {}


def _judge0_body() -> tuple[str, bytes, dict[str, str]]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(FILES - 1):  # the source file is the 1,000th
            archive.writestr(f"d/{number}", b"")
    zipped = base64.b64encode(buffer.getvalue()).decode()
    good = {"source_code": "echo hi", "language_id": 46, "additional_files": zipped}
    body = {"submissions": [good] * 19 + [{**good, "language_id": 4242}]}
    return "/judge0/submissions/batch", json.dumps(body).encode(), {}


def _post_whole(api: Api, path: str, body: bytes, sent: threading.Event, order: list[str],
                answers: dict[str, Any]) -> None:
    """POST ``body`` on a raw socket; set ``sent`` once every byte is handed to the kernel, then read the
    answer's status line and append "big" to ``order``."""
    where = urlsplit(api.url)
    head = [
        f"POST {path} HTTP/1.1", f"Host: {where.netloc}", f"Content-Length: {len(body)}",
        "Content-Type: application/json", "Connection: close",
        f"Authorization: Bearer {api.token}", f"X-Auth-Token: {api.token}",
    ]
    assert where.hostname is not None and where.port is not None
    with socket.create_connection((where.hostname, where.port), timeout=DEADLINE) as conn:
        conn.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + body)
        sent.set()
        reply = b""
        while b"\r\n" not in reply:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
        order.append("big")
        answers["big"] = reply.split(b"\r\n", 1)[0].decode(errors="replace")


def test_stats_is_answered_while_a_large_body_is_checked(api: Api) -> None:
    path, body, _ = _native_body()
    assert 4 * 1024**2 < len(body) < MAX_BODY_BYTES
    sent, order, answers = threading.Event(), [], {}  # type: ignore[var-annotated]
    poster = threading.Thread(target=_post_whole, args=(api, path, body, sent, order, answers))
    poster.start()
    try:
        assert sent.wait(DEADLINE), "the large body was not sent"
        with api.native() as client:
            for _ in range(STATS_IN_A_ROW):
                stats = client.get("/v1/stats")
                assert stats.status_code == 200, stats.text
                order.append("stats")
    finally:
        poster.join(DEADLINE)
    assert answers["big"].split()[1] == "422", answers  # checked whole, and refused at its last task
    assert order == ["stats"] * STATS_IN_A_ROW + ["big"], "GET /v1/stats waited for the large body to be checked"


def test_the_refusals_name_the_last_task(api: Api) -> None:
    """The bodies above are refused for their last task, by the replica's own check."""
    path, body, _ = _native_body()
    with api.native() as client:
        answer = client.post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422 and answer.json()["task_index"] == TASKS - 1, answer.text
    path, body, _ = _judge0_body()
    with api.judge0() as client:
        answer = client.post("/submissions/batch", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422 and answer.json()["index"] == 19, answer.text
