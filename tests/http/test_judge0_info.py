"""Judge0's health and information routes, and the languages listed by what can run.

Against the real Serve app: ``/workers``, ``/system_info``, ``/statistics``,
``/version`` and ``/languages/all`` in Judge0 CE 1.13.1's shapes (its
``health_controller.rb``, ``info_controller.rb`` and ``languages_controller.rb``),
each behind ``X-Auth-Token`` as in Judge0. Every language's image is built on
the test machines, so the listing of a missing one, and the refusal of a
submission whose image is missing, are checked on the translation (pure
logic) and on the real executor's ``images_present``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import judge0 as sdk
import pytest
import ray
from cli_support import poll
from http_support import MAX_CONCURRENT, Api

from faber_ray.config import ExecutorConfig
from faber_ray.errors import SandboxError
from faber_ray.http import judge0
from faber_ray.http.judge0.routes import _as_judge0
from faber_ray.http.judge0.info import Statistics
from faber_ray.languages import LANGUAGES

pytestmark = pytest.mark.usefixtures("nothing_pending")

ROUTES = ["/workers", "/system_info", "/statistics", "/version", "/languages/all"]


@pytest.mark.parametrize("route", ROUTES)
def test_each_route_needs_a_token(api: Api, route: str) -> None:
    with httpx.Client(base_url=f"{api.url}/judge0", timeout=30) as anonymous:
        assert anonymous.get(route).status_code == 401


def test_version_is_plain_text(api: Api) -> None:
    with api.judge0() as client:
        answer = client.get("/version")
    assert answer.status_code == 200 and answer.text == "1.13.1"
    assert answer.headers["content-type"].startswith("text/plain")


def test_workers_is_judge0s_health_check(api: Api) -> None:
    with api.judge0() as client:
        answer = client.get("/workers")
    assert answer.status_code == 200, answer.text
    (queue,) = answer.json()
    assert list(queue) == ["queue", "size", "available", "idle", "working", "paused", "failed"]
    assert queue["queue"] == "1.13.1" and queue["available"] == MAX_CONCURRENT
    assert queue["idle"] + queue["working"] == MAX_CONCURRENT and queue["paused"] == 0


def test_system_info_has_lscpu_and_free_keys(api: Api) -> None:
    with api.judge0() as client:
        info = client.get("/system_info").json()
    assert {"Architecture", "CPU(s)", "Model name", "Mem", "Swap"} <= set(info)
    assert all(isinstance(value, str) for value in info.values()) and int(info["CPU(s)"]) >= 1


def test_statistics_count_a_submission_by_language_and_verdict(api: Api) -> None:
    with api.judge0() as client:
        before = client.get("/statistics").json()
        created = client.post("/submissions", params={"wait": "true"},
                              json={"source_code": "echo 42", "language_id": 46, "expected_output": "42"})
        assert created.status_code == 201 and created.json()["status"]["id"] == 3, created.text

        def counted() -> dict[str, Any] | None:
            now = client.get("/statistics").json()
            return now if now["submissions"]["total"] == before["submissions"]["total"] + 1 else None

        after = poll(counted, "the submission to be counted")
    assert list(after) == ["created_at", "cached_until", "submissions", "languages", "statuses", "database"]
    assert after["submissions"]["today"] >= 1 and len(after["submissions"]["last_30_days"]) == 30

    def count(entries: list[dict[str, Any]], key: str, wanted: int) -> int:
        return next((entry["count"] for entry in entries if entry[key]["id"] == wanted), 0)

    assert count(after["languages"], "language", 46) == count(before["languages"], "language", 46) + 1

    def judged() -> bool:
        now = client_stats(api)
        return count(now["statuses"], "status", 3) == count(before["statuses"], "status", 3) + 1

    poll(judged, "the verdict to be counted")
    assert after["database"]["size_in_bytes"] > 0


def client_stats(api: Api) -> dict[str, Any]:
    with api.judge0() as client:
        found: dict[str, Any] = client.get("/statistics").json()
    return found


def test_all_languages_lists_every_id_by_name_and_languages_those_not_archived(api: Api) -> None:
    with api.judge0() as client:
        every = client.get("/languages/all").json()
        listed = client.get("/languages").json()
        one = client.get("/languages/71").json()
    assert [entry["name"] for entry in every] == sorted(entry["name"] for entry in every)
    assert {entry["id"] for entry in every} == set(judge0.JUDGE0_LANGUAGES)
    assert all(set(entry) == {"id", "name", "is_archived"} for entry in every)
    assert {entry["id"] for entry in listed} == {entry["id"] for entry in every if not entry["is_archived"]}
    assert one["is_archived"] is False  # every image is built here


def test_the_sdk_reads_a_language_with_is_archived(api: Api) -> None:
    client = sdk.Client(endpoint=f"{api.url}/judge0", headers={"X-Auth-Token": api.token})
    assert client.get_language(71).is_archived is False


def test_the_executor_says_which_images_some_node_has(api: Api) -> None:
    images = sorted({lang.image for lang in LANGUAGES.values()}) + ["faber-ray/no-such-image:0"]
    present = ray.get(api.executor.images_present.remote(images))
    assert present == [True] * (len(images) - 1) + [False]


def test_a_language_without_its_image_is_archived_and_not_listed() -> None:
    runnable = {lang.image for lang in LANGUAGES.values()} - {LANGUAGES["java"].image}
    listed = {entry["id"] for entry in judge0.languages(runnable)}
    every = {entry["id"]: entry["is_archived"] for entry in judge0.all_languages(runnable)}
    assert 62 not in listed and every[62] is True and every[71] is False
    assert listed == {language_id for language_id, archived in every.items() if not archived}
    assert judge0.language(62, runnable)["is_archived"] is True


def _parsed(count: int) -> list[Any]:
    java = {"source_code": "class Main {}", "language_id": 62}
    return [judge0.parse_submission(java, ExecutorConfig(), base64_encoded=False) for _ in range(count)]


def test_a_missing_image_is_refused_as_the_language_id_with_an_index_only_in_a_batch() -> None:
    missing = SandboxError("image faber-ray/java:17 not found; build it with `faber-ray images ensure java`",
                           task_index=0, field="image")
    single = _as_judge0(missing, _parsed(1), batch=False)
    assert judge0.error_response(single) == (422, {"language_id": [single.reason]})
    assert single.reason.startswith("language 62 (Java (OpenJDK 17)) cannot run here: image faber-ray/java:17")
    in_batch = _as_judge0(SandboxError(missing.reason, task_index=1, field="image"), _parsed(2), batch=True)
    assert judge0.error_response(in_batch) == (422, {"language_id": [in_batch.reason], "index": 1})


def test_statistics_keep_thirty_days_and_count_in_order() -> None:
    statistics = Statistics()
    now = datetime(2026, 3, 31, 12, tzinfo=timezone.utc)
    for back in (0, 0, 1, 29, 30, 31, 45):
        statistics.created(46 if back else 71, now - timedelta(days=back))
    statistics.judged(3)
    statistics.judged(3)
    statistics.judged(4)
    shown = statistics.snapshot(2048, now)
    days = shown["submissions"]["last_30_days"]
    assert shown["submissions"]["total"] == 7 and shown["submissions"]["today"] == 2
    assert list(days)[0] == (date(2026, 3, 30)).isoformat() and len(days) == 30
    assert days["2026-03-30"] == 1 and days["2026-03-02"] == 1 and days["2026-03-01"] == 1
    assert [entry["language"]["id"] for entry in shown["languages"]] == [46, 71]
    assert shown["statuses"][0] == {"status": {"id": 3, "name": "Accepted"}, "count": 2}
    assert shown["database"] == {"size_pretty": "2048 bytes", "size_in_bytes": 2048}
