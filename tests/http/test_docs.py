"""/docs and /redoc render offline in headless Chromium, and /openapi.json types the task bodies.

Chromium is Debian's (``scripts/setup`` installs it when FABER_RAY_WITH_CHROMIUM=1,
which ``scripts/test`` sets). Every host but loopback is mapped to nothing, so a
page that needs a CDN stays blank here whatever the machine's network. The
docs' tests skip without Chromium, except where it must be there
(FABER_RAY_REQUIRE_CHROMIUM=1, as ``scripts/test`` sets).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

import httpx
import pytest
from http_support import Api

from faber_ray.http.judge0.results import ALL_FIELDS
from faber_ray.languages import SPEC_KEYS
from faber_ray.models import ResourceLimits, Task

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--virtual-time-budget=15000",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("FABER_RAY_REQUIRE_CHROMIUM") == "1":
            pytest.fail("FABER_RAY_REQUIRE_CHROMIUM=1, but chromium is not installed (FABER_RAY_WITH_CHROMIUM=1 "
                        "bash scripts/setup installs it)")
        pytest.skip("chromium is not installed (FABER_RAY_WITH_CHROMIUM=1 bash scripts/setup installs it)")
    return found


def rendered(chromium: str, url: str) -> str:
    """The page's DOM once its scripts have run, as headless Chromium dumps it."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True, text=True, timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_swagger_ui_renders_the_operations_and_a_tasks_fields(api: Api, chromium: str) -> None:
    # Deep link: the POST /v1/tasks block opens, showing its request body.
    dom = rendered(chromium, f"{api.url}/docs#/native/post_tasks_v1_tasks_post")
    paths = set(re.findall(r'data-path="([^"]+)"', dom))
    assert {"/v1/tasks", "/v1/tasks/{execution_id}", "/judge0/submissions", "/judge0/workers"} <= paths, paths
    body = dom[dom.index("opblock-section-request-body"):]
    shown = _text(body[:body.index("responses-wrapper")] if "responses-wrapper" in body else body[:20000])
    assert "The language form" in shown and "A batch" in shown, shown[:2000]  # the examples offered
    assert '"command" : "echo"' in shown, shown[:2000]
    # The schemas section lists the body's models (what schemathesis and clients read).
    models = set(re.findall(r'json-schema-2020-12__title">([^<]+)<', dom))
    assert {"Task", "LanguageTask", "TaskBatch", "ResourceLimits", "Step", "Judge0Submission"} <= models, models


def test_redoc_renders_the_operations(api: Api, chromium: str) -> None:
    text = _text(rendered(chromium, f"{api.url}/redoc"))
    assert "Submit one task or a batch" in text and "/v1/tasks" in text, text[:2000]


def test_the_docs_pages_load_nothing_from_another_host(api: Api) -> None:
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{api.url}{page}", timeout=30).text
        links = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert links and all(link.startswith("/") for link in links), links
        for link in links:
            assert httpx.get(f"{api.url}{link}", timeout=30).status_code == 200, link


@pytest.fixture(scope="module")
def openapi(api: Api) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{api.url}/openapi.json", timeout=30).json()
    return document


def _body_schema(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    schema: dict[str, Any] = openapi["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema


def _component(openapi: dict[str, Any], ref: str) -> dict[str, Any]:
    found: dict[str, Any] = openapi["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return found


def test_the_native_body_is_a_task_the_language_form_or_a_batch(openapi: dict[str, Any]) -> None:
    refs = [option["$ref"] for option in _body_schema(openapi, "/v1/tasks")["anyOf"]]
    assert [ref.rsplit("/", 1)[-1] for ref in refs] == ["Task", "LanguageTask", "TaskBatch"]
    task, language, batch = (_component(openapi, ref) for ref in refs)
    assert set(task["properties"]) == set(Task.model_fields) and task["additionalProperties"] is False
    assert set(language["properties"]) == SPEC_KEYS and set(language["required"]) == {"language", "source"}
    assert set(language["properties"]["language"]["enum"]) >= {"python", "cpp", "java"}
    assert set(_component(openapi, "ResourceLimits")["properties"]) == set(ResourceLimits.model_fields)
    assert set(batch["properties"]) == {"tasks"} and batch["properties"]["tasks"]["minItems"] == 1


def test_the_judge0_bodies_are_submissions(openapi: dict[str, Any]) -> None:
    one = _body_schema(openapi, "/judge0/submissions")
    assert set(one["required"]) == {"source_code", "language_id"}
    assert set(one["properties"]) <= set(ALL_FIELDS)
    assert {"stdin", "expected_output", "cpu_time_limit", "memory_limit", "additional_files"} <= set(one["properties"])
    batch = _body_schema(openapi, "/judge0/submissions/batch")
    assert batch["properties"]["submissions"]["maxItems"] == 20
    assert batch["properties"]["submissions"]["items"]["$ref"].endswith("/Judge0Submission")
