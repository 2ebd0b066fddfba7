"""Fair share over HTTP: a user over its queue quota gets 429 (others do not), the priority a request
asks for is capped by its token, and each token sees only its own user's statistics (an admin, all)."""

from __future__ import annotations

import pytest
import ray
from cli_support import poll
from http_support import QUEUED_PER_USER, Api, pending

pytestmark = pytest.mark.usefixtures("nothing_pending")


def test_a_user_over_its_queue_quota_gets_429_and_another_user_does_not(api: Api) -> None:
    with api.native() as alice, api.native(api.other_token) as bob:
        before = ray.get(api.executor.stats.remote()).total
        refused = alice.post("/v1/tasks", json={"tasks": [{"command": "true"}] * (QUEUED_PER_USER + 1)})
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "1"
        detail = refused.json()["detail"]
        assert "user 'alice'" in detail and f"max_queued_per_user is {QUEUED_PER_USER}" in detail
        assert pending(api) == {"queued": [], "running": []} and ray.get(api.executor.stats.remote()).total == before
        accepted = bob.post("/v1/tasks", params={"wait": "true"}, json={"command": "echo", "args": ["bob"]})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["results"][0]["stdout"] == "bob\n"


def test_the_priority_asked_for_is_capped_at_the_tokens(api: Api) -> None:
    with api.native() as alice, api.native(api.priority_token) as dave:
        for client, asked, runs_at in ((dave, 9, 2), (dave, 1, 1), (dave, None, 0), (alice, 5, 0), (alice, -3, -3)):
            params = {} if asked is None else {"priority": str(asked)}
            answer = client.post("/v1/tasks", params=params, json={"command": "true"})
            assert answer.status_code == 202, answer.text
            assert answer.json()["priority"] == runs_at, (asked, answer.json())
        odd = alice.post("/v1/tasks", params={"priority": "high"}, json={"command": "true"})
        assert odd.status_code == 422, odd.text
        poll(lambda: pending(api) == {"queued": [], "running": []}, "the tasks to end")


def test_stats_show_a_token_its_own_user_and_an_admin_every_user(api: Api) -> None:
    with api.native() as alice, api.native(api.other_token) as bob, api.native(api.admin_token) as carol:
        for client in (alice, bob):
            assert client.post("/v1/tasks", params={"wait": "true"}, json={"command": "true"}).status_code == 200
        seen = alice.get("/v1/stats").json()["users"]
        assert set(seen) == {"alice"} and seen["alice"]["done"] >= 1
        assert set(bob.get("/v1/stats").json()["users"]) == {"bob"}
        assert {"alice", "bob"} <= set(carol.get("/v1/stats").json()["users"])


def test_a_judge0_submission_over_quota_is_503_queue_is_full(api: Api) -> None:
    with api.judge0() as alice:
        # Judge0 takes at most 20 per batch: 40 fit under the quota of 48 (at most 8 leave the queue for
        # the workers meanwhile, as each takes 2 s), the next 20 do not.
        body = {"submissions": [{"source_code": "import time; time.sleep(2)", "language_id": 71}] * 20}
        for _ in range(2):
            assert alice.post("/submissions/batch", json=body).status_code == 201
        answer = alice.post("/submissions/batch", json=body)
        assert answer.status_code == 503, answer.text
        assert answer.json() == {"error": "queue is full"}

