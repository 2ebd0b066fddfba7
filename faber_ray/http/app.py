"""The Ray Serve application: one replica running FastAPI in front of a named ``TaskExecutor``.

:mod:`faber_ray.http.serving` deploys it and removes it again. The replica finds
the executor by name in faber-ray's namespace (Serve's own actors live in
"serve"), and holds the book of the tasks submitted through it
(:mod:`faber_ray.http.service`), which is why there is exactly one replica.

Backpressure is bounded at every step: Serve queues at most
:data:`MAX_QUEUED_REQUESTS` requests for the replica (then answers 503 itself),
the replica runs at most :data:`MAX_ONGOING_REQUESTS` at once (handlers are
async and mostly wait on the executor, so the number is high), a body larger
than ``max_body_bytes`` is a 413 (a body under it is decoded and checked in a
worker thread, :mod:`faber_ray.http.bodies`), the executor refuses what its queue cannot
take now (429 / 503), and a request waits for results at most ``wait_limit``
seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from ray import serve
from ray.exceptions import RayError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faber_ray import __version__
from faber_ray.http import docs, native, schemas
from faber_ray.http.judge0 import routes as judge0_api
from faber_ray.http.auth import TokenTable
from faber_ray.http.service import Service

__all__ = [
    "DEFAULT_MAX_BODY_BYTES", "DEFAULT_WAIT_LIMIT", "MAX_ONGOING_REQUESTS", "MAX_QUEUED_REQUESTS",
    "BodyLimit", "HTTPFrontDoor", "create_app",
]

#: Requests one replica handles at once (most of them wait on the executor).
MAX_ONGOING_REQUESTS = 1024
#: Requests Serve holds for the replica beyond those; more are answered 503 by Serve.
MAX_QUEUED_REQUESTS = 512
#: The largest request body: a task at the stdin cap (16 MiB) with as much again in files, or a batch of
#: hundreds of ordinary tasks. Bigger is not free: a replica holds a body about three times over while it
#: decodes it, and checking 25 MiB of tiny files takes seconds of CPU. A task with more data (files may
#: reach max_files_bytes, 64 MiB) goes through Python (TaskExecutor), or ``deploy(max_body_bytes=...)``.
DEFAULT_MAX_BODY_BYTES = 32 * 1024**2
#: The longest a request waits for results (wait=true) before answering what it has.
DEFAULT_WAIT_LIMIT = 600.0


class Health(BaseModel):
    status: str
    version: str


def _sentence(error: dict[str, Any]) -> str:
    """A FastAPI validation error as a sentence: where, then what."""
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header"))
    kind = next((part for part in error.get("loc", ()) if part in ("query", "path", "header")), "body")
    message = str(error.get("msg", "is invalid"))
    if error.get("type") == "json_invalid":
        return f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'decode error')})"
    if kind == "body" and not where and error.get("type") == "dict_type":
        return "the body must be a JSON object, sent as Content-Type: application/json"
    if kind == "body" and not where and error.get("type") == "missing":
        return "the body is empty: send a JSON object, as Content-Type: application/json"
    if kind == "body" and not where:
        return f"the body is invalid: {message}"
    return f"{'the body' if kind == 'body' else kind + ' parameter'} {where!r}: {message}"


class BodyLimit:
    """Refuse a body over ``limit`` bytes with a 413 sentence: at once when Content-Length says so, else
    as soon as the bytes read pass it (the route's handler then answers through the exception handlers).

    FastAPI's own ``max_body_size`` answers a plain "Content Too Large" that no
    exception handler can reword, hence this.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            detail = _too_large(self.limit)
            judge0 = "/judge0" in scope.get("path", "")
            await JSONResponse({"error": detail} if judge0 else {"detail": detail}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise StarletteHTTPException(413, _too_large(self.limit))
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes, the most this API takes"


def _is_judge0(request: Request) -> bool:
    return "/judge0" in request.url.path


def create_app(service: Service, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The FastAPI app of one replica, with ``service`` on its state."""
    app = FastAPI(
        title="faber-ray", version=__version__,
        description="Sandboxed task execution on Ray: a native API under /v1 and a Judge0 CE 1.13.1-compatible "
        "API under /judge0.",
        docs_url=None, redoc_url=None,  # docs.install serves them with local assets
    )
    app.state.service = service
    app.add_middleware(BodyLimit, limit=max_body_bytes)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail, status = str(error.detail), error.status_code
        if status == 400 and detail == "There was an error parsing the body":  # FastAPI's, e.g. for non-UTF-8
            detail, status = "the body could not be read as JSON (is it UTF-8 text?)", 422
        elif status == 413:
            detail = _too_large(max_body_bytes)
        elif status == 404 and detail == "Not Found":
            detail = f"there is no route {request.method} {request.url.path}"
        elif status == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        body: dict[str, Any] = {"error": detail} if _is_judge0(request) else {"detail": detail}
        return JSONResponse(body, status_code=status, headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = error.errors()
        detail = _sentence(errors[0]) if errors else "the request is invalid"
        if _is_judge0(request):
            return JSONResponse({"error": detail}, status_code=422)
        return native.problem_response(422, detail, reason=detail)

    @app.exception_handler(RayError)
    async def executor_unreachable(request: Request, error: RayError) -> JSONResponse:
        detail = f"the executor cannot be reached ({type(error).__name__}); try again later"
        return JSONResponse({"error": detail} if _is_judge0(request) else {"detail": detail}, status_code=503)

    @app.get("/healthz", response_model=Health, responses={503: {"description": "The executor does not answer"}},
             tags=["health"], summary="200 once requests can be served (no token needed)")
    async def healthz() -> Health | JSONResponse:
        try:
            await asyncio.wait_for(service.executor.cache_info.remote(), 10)
        except (RayError, asyncio.TimeoutError):
            return JSONResponse({"status": "executor unreachable", "version": __version__}, status_code=503)
        return Health(status="ok", version=__version__)

    app.include_router(native.router)
    judge0_api.install(app, service)
    schemas.install(app)
    docs.install(app)
    return app


@serve.deployment(
    name="faber-ray-http",
    num_replicas=1,
    max_ongoing_requests=MAX_ONGOING_REQUESTS,
    max_queued_requests=MAX_QUEUED_REQUESTS,
    ray_actor_options={"num_cpus": 0},
)
@serve.ingress()
class HTTPFrontDoor:
    """The replica: connects to the executor, then builds its FastAPI app around the Service."""

    async def __init__(  # type: ignore[misc]  # Serve awaits an async constructor
        self, executor_name: str, namespace: str, tokens: TokenTable, max_body_bytes: int, wait_limit: float
    ) -> None:
        self._service = await Service.connect(executor_name, namespace, tokens, wait_limit)
        self._max_body_bytes = max_body_bytes

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self._service, self._max_body_bytes)
