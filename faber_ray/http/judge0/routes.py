"""The Judge0 CE 1.13.1-compatible API under ``/judge0``, over the translation in :mod:`faber_ray.http.judge0`.

Authentication is Judge0's ``X-Auth-Token`` header, on every route as in Judge0. A submission's token is
its execution id, so ``faber-ray stats`` counts it and ``get_result`` finds
it. The routes only move data: what a Judge0 body means, and what a result
looks like in Judge0's JSON, is decided by the translation module. Errors read
as Judge0's: ``{"error": sentence}``, 422 with the field's messages for a
refused submission, and 503 ``{"error": "queue is full"}`` when the executor's
queue cannot take it now. A refusal by the executor is keyed by the Judge0
field (a missing image is the submission's ``language_id``), with ``index``
only in a batch.

Bodies are decoded and translated in a worker thread
(:mod:`faber_ray.http.bodies`); their schemas are :mod:`faber_ray.http.schemas`'.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader

from faber_ray.errors import ExecutorError, QueueFullError
from faber_ray.http import judge0
from faber_ray.http.judge0 import info as judge0_info
from faber_ray.http.bodies import parse_json_body
from faber_ray.http.schemas import JUDGE0_EXAMPLES, Judge0Batch, Judge0Submission, request_body
from faber_ray.http.book import Entry
from faber_ray.http.service import Service, service_of
from faber_ray.models import ExecutionStatistics, Task, TaskResult

__all__ = ["install", "router", "statistics_of"]

router = APIRouter(prefix="/judge0", tags=["judge0"])
_token_header = APIKeyHeader(name="X-Auth-Token", auto_error=False, description="A token of ExecutorConfig.api_tokens")

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid X-Auth-Token"},
    404: {"description": "Unknown token or language"},
    400: {"description": "Invalid fields"},
    413: {"description": "Body too large"},
    422: {"description": "Refused submission: {field: [messages]}"},
    503: {"description": "queue is full, or the executor cannot be reached"},
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: _ERRORS[code] for code in codes}


async def judge0_user(request: Request, token: Annotated[str | None, Depends(_token_header)]) -> str:
    """The user name of the request's X-Auth-Token; 401 without a valid one."""
    user = service_of(request).tokens.user(token)
    if user is None:
        raise HTTPException(401, "a valid token is required: send X-Auth-Token: <token>")
    return user


User = Annotated[str, Depends(judge0_user)]
Svc = Annotated[Service, Depends(service_of)]
Encoded = Annotated[bool, Query(description="Text fields are base64, in the request and in the answer")]
Fields = Annotated[str | None, Query(description="Comma-separated fields, or * for all")]


def _refused(error: ExecutorError) -> JSONResponse:
    """Judge0's answer to a refusal: 503 for a full queue, else the translation's 400 or 422."""
    if isinstance(error, QueueFullError):
        return JSONResponse({"error": "queue is full"}, status_code=503)
    status, body = judge0.error_response(error)
    return JSONResponse(body, status_code=status)


def _fields(fields: str | None) -> tuple[str, ...]:
    try:
        return tuple(judge0.parse_fields(fields))
    except ExecutorError as error:
        raise HTTPException(400, error.reason) from None


async def _answer(
    service: Service, user: str, token: str, fields: tuple[str, ...], encoded: bool
) -> dict[str, Any] | None:
    """``user``'s submission as Judge0 shows it; None for an unknown token or another user's."""
    entry = service.entry(token, user)
    if entry is None:  # not in this replica's book: perhaps made before a restart, and kept in the store
        restored = await service.restored(token, user)
        if restored is None or not isinstance(restored[0], judge0.Submission):
            return None
        return judge0.submission_json(restored[0], restored[1], fields=fields, base64_encoded=encoded)
    if not isinstance(entry.record, judge0.Submission):
        return None
    result: TaskResult | None = entry.result
    running = result is None and await service.state_of(token, entry) == "running"
    return judge0.submission_json(
        entry.record, result, running=running, finished_at=entry.finished_at, fields=fields, base64_encoded=encoded,
    )


#: The Judge0 field behind a field the executor refuses a built task for.
_EXECUTOR_FIELDS = {"image": "language_id", "limits.memory": "memory_limit"}


def _as_judge0(error: ExecutorError, parsed: list[tuple[Task, judge0.Submission]], batch: bool) -> ExecutorError:
    """An executor's refusal of a translated submission, keyed by Judge0's field; ``index`` only in a batch."""
    position = error.task_index
    record = parsed[position][1] if position is not None and 0 <= position < len(parsed) else None
    reason = error.reason
    if error.field == "image" and record is not None:
        reason = f"language {record.language_id} ({record.language_name}) cannot run here: {reason}"
    field = _EXECUTOR_FIELDS.get(error.field or "", error.field or "submission")
    return type(error)(reason, task_index=position if batch else None, field=field)


async def _submit(
    service: Service, statistics: judge0_info.Statistics, user: str, parsed: list[tuple[Task, judge0.Submission]],
    *, batch: bool,
) -> list[str]:
    """Submit translated submissions; each record takes its task's execution id as its token."""
    try:
        ids = await service.submit(
            [task for task, _ in parsed], user,
            records=lambda execution_id, position: dataclasses.replace(parsed[position][1], token=execution_id),
            priority=service.tokens.default_priority(user),
        )
    except QueueFullError:
        raise
    except ExecutorError as error:
        raise _as_judge0(error, parsed, batch) from None
    for _, record in parsed:
        statistics.created(record.language_id, record.created_at)
    return ids


def statistics_of(request: Request) -> judge0_info.Statistics:
    """The replica's Judge0 statistics (a FastAPI dependency): :func:`install` puts them on the app's state."""
    statistics: judge0_info.Statistics = request.app.state.judge0_statistics
    return statistics


Stats = Annotated[judge0_info.Statistics, Depends(statistics_of)]


def install(app: FastAPI, service: Service) -> None:
    """Add the routes to ``app``, with statistics that count each submission's verdict once it is judged,
    and the ``callback_url`` PUT of a submission that asked for one (sent from here, the replica)."""
    statistics = app.state.judge0_statistics = judge0_info.Statistics()
    sending: set[asyncio.Future[bool]] = set()  # held until done: a bare task may be collected midway
    app.state.judge0_callbacks = sending

    def judged(entry: Entry) -> None:
        if isinstance(entry.record, judge0.Submission) and entry.result is not None:
            statistics.judged(judge0.verdict(entry.record, entry.result).status_id)

    def call_back(entry: Entry) -> None:
        record = entry.record
        if not isinstance(record, judge0.Submission) or entry.result is None:
            return
        url = record.request.get("callback_url")
        if url:
            body = judge0.submission_json(record, entry.result, finished_at=entry.finished_at, base64_encoded=True)
            future = asyncio.ensure_future(judge0.send_callback(url, body))
            sending.add(future)
            future.add_done_callback(sending.discard)

    service.on_settled += [judged, call_back]
    app.include_router(router)


@router.get("/languages", response_model=list[dict[str, Any]], responses=_errors(401, 503),
            summary="The languages that can run now: their image is on a sandbox node")
async def get_languages(service: Svc, user: User) -> list[dict[str, Any]]:
    return list(judge0.languages(await service.runnable_images()))


@router.get("/languages/all", response_model=list[dict[str, Any]], responses=_errors(401, 503),
            summary="Every language, is_archived when no sandbox node has its image")
async def get_all_languages(service: Svc, user: User) -> list[dict[str, Any]]:
    return list(judge0.all_languages(await service.runnable_images()))


@router.get("/languages/{language_id}", response_model=dict[str, Any], responses=_errors(401, 404, 503))
async def get_language(service: Svc, user: User, language_id: int) -> dict[str, Any]:
    try:
        return dict(judge0.language(language_id, await service.runnable_images()))
    except ExecutorError as error:
        raise HTTPException(404, error.reason) from None


@router.get("/statuses", response_model=list[dict[str, Any]], responses=_errors(401))
async def get_statuses(user: User) -> list[dict[str, Any]]:
    return list(judge0.statuses())


@router.get("/config_info", response_model=dict[str, Any], responses=_errors(401))
async def get_config_info(service: Svc, user: User) -> dict[str, Any]:
    return dict(judge0.config_info(service.config))


@router.get("/about", response_model=dict[str, Any], responses=_errors(401))
async def get_about(user: User) -> dict[str, Any]:
    return dict(judge0.about())


@router.get("/version", response_class=PlainTextResponse, responses={200: {"content": {"text/plain": {}}},
                                                                      **_errors(401)})
async def get_version(user: User) -> PlainTextResponse:
    return PlainTextResponse(judge0.JUDGE0_VERSION)


@router.get("/workers", response_model=list[dict[str, Any]], responses=_errors(401, 503),
            summary="Judge0's health check: the queue, the sandbox slots, how many work")
async def get_workers(service: Svc, user: User) -> list[dict[str, Any]]:
    stats: ExecutionStatistics = await service.executor.stats.remote()
    return judge0_info.workers(stats, service.config.max_concurrent_tasks)


@router.get("/system_info", response_model=dict[str, str], responses=_errors(401))
async def get_system_info(user: User) -> dict[str, str]:
    return judge0_info.system_info()


@router.get("/statistics", response_model=dict[str, Any], responses=_errors(401),
            summary="The Judge0 submissions made through this server since it started")
async def get_statistics(
    service: Svc, statistics: Stats, user: User,
    invalidate_cache: Annotated[bool, Query(description="Accepted; nothing is cached")] = False,
) -> dict[str, Any]:
    return statistics.snapshot(service.book_bytes)


@router.post("/submissions/batch", status_code=201, response_model=list[dict[str, Any]],
             responses=_errors(400, 401, 413, 422, 503),
             openapi_extra=request_body(Judge0Batch, '{"submissions": [submission, ...]}, 1 to 20'))
async def post_batch(
    request: Request, service: Svc, statistics: Stats, user: User, base64_encoded: Encoded = False,
) -> list[dict[str, Any]] | JSONResponse:
    try:
        parsed = await parse_json_body(
            request, lambda body: judge0.parse_batch(body, service.config, base64_encoded=base64_encoded)
        )
        ids = await _submit(service, statistics, user, parsed, batch=True)
    except ExecutorError as error:
        return _refused(error)
    return [{"token": token} for token in ids]


@router.get("/submissions/batch", response_model=dict[str, list[dict[str, Any] | None]],
            responses=_errors(400, 401))
async def get_batch(
    service: Svc, user: User,
    tokens: Annotated[str, Query(description="Comma-separated tokens, in the order the answer keeps")],
    base64_encoded: Encoded = False, fields: Fields = None,
) -> dict[str, list[dict[str, Any] | None]] | JSONResponse:
    try:
        wanted = judge0.parse_tokens(tokens)
    except ExecutorError as error:
        return _refused(error)
    chosen = _fields(fields)
    return {"submissions": [await _answer(service, user, token, chosen, base64_encoded) for token in wanted]}


@router.post("/submissions", status_code=201, response_model=dict[str, Any], responses=_errors(400, 401, 413, 422, 503),
             openapi_extra=request_body(Judge0Submission, "A Judge0 submission", JUDGE0_EXAMPLES))
async def post_submission(
    request: Request, service: Svc, statistics: Stats, user: User,
    base64_encoded: Encoded = False,
    wait: Annotated[bool, Query(description="Answer once the submission is judged")] = False,
    fields: Fields = None,
) -> dict[str, Any] | JSONResponse:
    chosen = _fields(fields) if wait else ()
    try:
        parsed = await parse_json_body(
            request, lambda body: [judge0.parse_submission(body, service.config, base64_encoded=base64_encoded)]
        )
        ids = await _submit(service, statistics, user, parsed, batch=False)
    except ExecutorError as error:
        return _refused(error)
    if not wait:
        return {"token": ids[0]}
    await service.wait(ids)  # past the wait limit, the answer says In Queue or Processing
    answer = await _answer(service, user, ids[0], chosen, base64_encoded)
    return answer if answer is not None else {"token": ids[0]}


@router.get("/submissions/{token}", response_model=dict[str, Any], responses=_errors(400, 401, 404))
async def get_submission(
    service: Svc, user: User, token: str, base64_encoded: Encoded = False, fields: Fields = None,
) -> dict[str, Any]:
    answer = await _answer(service, user, token, _fields(fields), base64_encoded)
    if answer is None:
        raise HTTPException(404, f"no submission {token} is known here")
    return answer
