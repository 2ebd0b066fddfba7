"""Task bodies read whole, then decoded, translated and checked in a worker thread, off the event loop.

The one replica answers every user on one event loop. Left to FastAPI, a JSON
body is decoded on that loop, and the routes then translated and checked the
tasks there too: a body of tens of MiB made of many files kept every other
request waiting for seconds (measured: ``GET /v1/stats`` waited 2.7 s behind a
5 MiB batch of 600 tasks with 1,000 tiny files each, 33 s behind 25 MiB of
them; 0.26 s and 3 s now). So the routes that
take tasks (``POST /v1/tasks``, Judge0's ``POST /submissions`` and
``/submissions/batch``) declare no body parameter: they await the raw bytes
(other requests go on meanwhile), then run ``json.loads``, the translation and
``validate_batch`` in a thread (:func:`parse_json_body`); the executor checks
the batch again in a thread of its own. Their schemas in
``/openapi.json`` come from :mod:`faber_ray.http.schemas`.

What a thread cannot do: ``json.loads`` is one C call that holds the GIL, so a
body built of millions of tiny values still stops the loop while it is
decoded (at worst about 60 ms per MiB on a 2-core test machine, about 2 s for
a 32 MiB body of empty strings). The body limit bounds that; the checks after
the decoding are Python, which lets the loop take turns. The hop to a thread
costs about 0.1 ms per request.

A body that is not a JSON object is refused with the validation errors
FastAPI itself would raise, so the answers read as before.
"""

from __future__ import annotations

import asyncio
import email.message
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError

__all__ = ["parse_json_body"]

T = TypeVar("T")

_NOT_AN_OBJECT = {"type": "dict_type", "loc": ("body",), "msg": "Input should be a valid dictionary"}


def _is_json(content_type: str | None) -> bool:
    """FastAPI's rule: no content type, ``application/json`` or ``application/*+json`` is JSON."""
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _invalid(error_type: str, message: str, where: tuple[Any, ...] = ("body",), **ctx: Any) -> RequestValidationError:
    error: dict[str, Any] = {"type": error_type, "loc": where, "msg": message}
    if ctx:
        error["ctx"] = ctx
    return RequestValidationError([error])


def decode_then(raw: bytes, parse: Callable[[dict[str, Any]], T]) -> T:
    """``parse(json.loads(raw))``; a body that is not a JSON object raises a ``RequestValidationError``."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise _invalid("json_invalid", "JSON decode error", ("body", error.pos), error=error.msg) from None
    except UnicodeDecodeError:
        raise _invalid("json_invalid", "JSON decode error", error="it is not UTF-8 text") from None
    except RecursionError:
        raise _invalid("value_error", "it is nested too deeply to be a task") from None
    if not isinstance(data, dict):
        raise RequestValidationError([_NOT_AN_OBJECT])
    return parse(data)


async def parse_json_body(request: Request, parse: Callable[[dict[str, Any]], T]) -> T:
    """The request's JSON object, given to ``parse`` (translation and checks) in a worker thread.

    Reading the body can raise the body limit's 413 (:class:`faber_ray.http.app.BodyLimit`); ``parse``
    raises what the route answers (``ExecutorError``), and runs only for a JSON object.
    """
    raw = await request.body()
    if not _is_json(request.headers.get("content-type")):
        raise RequestValidationError([_NOT_AN_OBJECT])
    if not raw:
        raise _invalid("missing", "the body is empty; send a JSON object")
    return await asyncio.to_thread(decode_then, raw, parse)
