"""The native API under ``/v1``: tasks in the JSON of ``faber-ray batch`` lines, results as ``TaskResult``.

Authentication is ``Authorization: Bearer <token>``. Refusals are 422 bodies
that name the task index, the field and the reason of the ``ExecutorError``;
a batch the executor's queue cannot take now is a 429 with ``Retry-After``.
Every route has a response model, so ``/openapi.json`` describes what really
comes back (schemathesis checks it).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from faber_ray import languages
from faber_ray.errors import ExecutorError, QueueFullError, TaskValidationError, unwrap_error
from faber_ray.http.auth import Caller
from faber_ray.http.bodies import parse_json_body
from faber_ray.http.schemas import NATIVE_EXAMPLES, NativeBody, request_body
from faber_ray.http.service import Service, log, service_of
from faber_ray.models import ExecutionStatistics, OutputChunk, TaskResult
from faber_ray.validation import validate_batch

__all__ = ["Problem", "RETRY_AFTER_SECONDS", "problem_response", "router"]

#: What a 429 tells the client to wait before it tries again.
RETRY_AFTER_SECONDS = 1

router = APIRouter(prefix="/v1", tags=["native"])
_bearer = HTTPBearer(auto_error=False, description="A token of ExecutorConfig.api_tokens")


class Problem(BaseModel):
    """Why a request was refused: a sentence, and for a task, which one and which field."""

    detail: str
    task_index: int | None = None
    field: str | None = None
    reason: str | None = None


class Submitted(BaseModel):
    ids: list[str] = Field(description="Execution ids, in the order of the tasks.")
    priority: int = Field(0, description="The priority they run at: the one asked for, capped at the token's.")


class Results(BaseModel):
    results: list[TaskResult] = Field(description="Results, in the order of the tasks.")


class TaskState(BaseModel):
    state: Literal["queued", "running"]


class Cancelled(BaseModel):
    execution_id: str
    cancelled: bool = Field(description="False when the task had already finished.")


class LanguageInfo(BaseModel):
    name: str
    title: str
    version: str
    image: str
    source_file: str
    compile: list[str] | None
    run: list[str]


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        401: "No valid token", 404: "Unknown execution id", 413: "Body too large",
        422: "Refused: the body names the task, the field and the reason",
        429: "The executor's queue cannot take the batch now; see Retry-After",
        503: "The executor cannot be reached",
        504: "wait=true: the results did not come within the wait limit; the tasks go on",
    }
    return {code: {"model": Problem, "description": text[code]} for code in codes}


def problem_response(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(Problem(detail=detail, **extra).model_dump(), status_code=status)


def _refusal(error: ExecutorError) -> JSONResponse:
    """An ``ExecutorError`` as an answer: 429 for a full queue, 422 for a refused task, 503 otherwise."""
    if isinstance(error, QueueFullError):
        response = problem_response(429, f"{error.reason}; try again later", reason=error.reason)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    refused = error.task_index is not None or error.field is not None or isinstance(error, TaskValidationError)
    return problem_response(
        422 if refused else 503, str(error), task_index=error.task_index, field=error.field, reason=error.reason
    )


async def bearer_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """Who the request's bearer token acts as; 401 without a valid one."""
    caller = service_of(request).tokens.caller(credentials.credentials if credentials else None)
    if caller is None:
        raise HTTPException(
            401, "a valid token is required: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


User = Annotated[Caller, Depends(bearer_caller)]


def _unknown(execution_id: str) -> HTTPException:
    """The one answer for an id this user may not see, whether it exists or not."""
    return HTTPException(404, f"no task {execution_id} is known (or its result has left the cache)")
Svc = Annotated[Service, Depends(service_of)]


def _tasks_of(body: Any) -> list[Any]:
    """One task, or ``{"tasks": [...]}``; the language form becomes a Task, index by index."""
    if not isinstance(body, dict):
        raise TaskValidationError("the body must be a JSON object: one task, or {\"tasks\": [...]}")
    if "tasks" in body:
        if set(body) != {"tasks"}:
            extra = sorted(set(body) - {"tasks"})[0]
            raise TaskValidationError("a batch body holds only \"tasks\"", field=extra)
        items = body["tasks"]
        if not isinstance(items, list):
            raise TaskValidationError("tasks must be a list of tasks", field="tasks")
    else:
        items = [body]
    tasks = []
    for index, item in enumerate(items):
        try:
            tasks.append(languages.from_json(item))
        except ExecutorError as error:
            raise type(error)(error.reason, task_index=index, field=error.field) from None
    return tasks


@router.post(
    "/tasks", status_code=202, response_model=Submitted | Results,
    responses={200: {"model": Results, "description": "With wait=true: the results"},
               **_problems(401, 413, 422, 429, 503, 504)},
    summary="Submit one task or a batch",
    openapi_extra=request_body(NativeBody, "A task (as a `faber-ray batch` line: command or steps, or the language "
                               "form) or {\"tasks\": [...]}", NATIVE_EXAMPLES),
)
async def post_tasks(
    request: Request, service: Svc, user: User, response: Response,
    wait: Annotated[bool, Query(description="Answer with the results instead of the ids")] = False,
    priority: Annotated[int | None, Query(
        ge=-(2**31), lt=2**31,
        description="Higher is dispatched first; capped at the token's priority (0 unless its grant says more)",
    )] = None,
) -> Submitted | Results | JSONResponse:
    runs_at = user.priority_for(priority)
    try:
        # Decoded and checked in a thread: a large body must not hold up everyone else's requests.
        tasks = await parse_json_body(request, lambda body: validate_batch(_tasks_of(body), service.config))
        ids = await service.submit(tasks, user.user, priority=runs_at)
    except ExecutorError as error:
        return _refusal(error)
    if not wait:
        return Submitted(ids=ids, priority=runs_at)
    results = await service.wait(ids)
    if results is None:
        return problem_response(
            504, f"the results did not come within {service.wait_limit:g} s; the tasks go on: poll "
            f"GET /v1/tasks/{{id}} for {', '.join(ids)}", reason="wait limit",
        )
    response.status_code = 200
    return Results(results=results)


@router.get(
    "/tasks/{execution_id}", response_model=TaskResult | TaskState, responses=_problems(401, 404, 503),
    summary="A task's result, or whether it is queued or running",
)
async def get_task(service: Svc, user: User, execution_id: str) -> TaskResult | TaskState:
    found = await service.lookup(execution_id, user.user)
    if found is None:
        raise _unknown(execution_id)
    return found if isinstance(found, TaskResult) else TaskState(state=found)


@router.delete(
    "/tasks/{execution_id}", response_model=Cancelled, responses=_problems(401, 404, 503),
    summary="Cancel a task: a queued one never starts, a running one is killed",
)
async def delete_task(service: Svc, user: User, execution_id: str) -> Cancelled:
    if await service.cancel(execution_id, user.user):
        log.info("user %s cancelled %s", user.user, execution_id)
        return Cancelled(execution_id=execution_id, cancelled=True)
    if await service.lookup(execution_id, user.user) is None:
        raise _unknown(execution_id)
    return Cancelled(execution_id=execution_id, cancelled=False)


def _event(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()


async def _events(service: Service, execution_id: str, user: str) -> AsyncIterator[bytes]:
    decoders: dict[tuple[int | None, str], codecs.IncrementalDecoder] = {}
    finished = False
    try:
        async for item in service.watch(execution_id, user):
            if isinstance(item, OutputChunk):
                decoder = decoders.setdefault(
                    (item.step, item.stream), codecs.getincrementaldecoder("utf-8")(errors="replace")
                )
                text = decoder.decode(item.data)
                if text:
                    yield _event(item.stream, json.dumps({"text": text, "step": item.step}))
            else:
                finished = True
                yield _event("result", item.model_dump_json())
    except ExecutorError as raised:  # e.g. a watcher cap reached by a race after the route's check
        finished = True
        error = unwrap_error(raised)
        reason = error.reason if isinstance(error, ExecutorError) else str(error)
        yield _event("error", json.dumps({"detail": str(error), "reason": reason}))
    finally:
        if not finished and service.entry(execution_id, user) is not None:
            service.abandon([execution_id])  # the client that submitted it stopped watching


@router.get(
    "/tasks/{execution_id}/events", response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events: `stdout` and "
                     "`stderr` events ({\"text\", \"step\"}) as the task writes, then one `result` event "
                     "(the TaskResult); an `error` event if the watch is refused meanwhile"},
               **_problems(401, 404, 429, 503)},
    summary="Follow a task's output live",
)
async def task_events(service: Svc, user: User, execution_id: str) -> Response:
    if await service.lookup(execution_id, user.user) is None:
        raise _unknown(execution_id)
    try:
        service.watchers.check(execution_id, user.user)
    except QueueFullError as error:
        return _refusal(error)
    return StreamingResponse(
        _events(service, execution_id, user.user), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/stats", response_model=ExecutionStatistics, responses=_problems(401, 503), summary="As `faber-ray stats`")
async def get_stats(service: Svc, user: User) -> ExecutionStatistics:
    """The executor's counters; under ``users``, the token's own user only (every user for an admin)."""
    stats: ExecutionStatistics = await service.executor.stats.remote(None if user.admin else user.user)
    return stats


@router.get("/cluster", response_model=dict[str, Any], responses=_problems(401, 503), summary="As `faber-ray cluster`")
async def get_cluster(service: Svc, user: User) -> dict[str, Any]:
    """Task ids are shown to an admin token only; everyone else sees counts."""
    view: dict[str, Any] = await service.executor.cluster.remote()
    if not user.admin:
        for node in view.get("nodes", {}).values():
            for worker in node.get("workers", []):
                worker.pop("tasks", None)
    return view


@router.get("/languages", response_model=list[LanguageInfo], responses=_problems(401), summary="The language form's languages")
async def get_languages(user: User) -> list[LanguageInfo]:
    return [
        LanguageInfo(
            name=lang.name, title=lang.title, version=lang.version, image=lang.image, source_file=lang.source_file,
            compile=list(lang.compile) if lang.compile else None, run=list(lang.run),
        )
        for lang in languages.LANGUAGES.values()
    ]
