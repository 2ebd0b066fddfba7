"""Judge0's ``callback_url``: which URLs are allowed, and the ``PUT`` sent when a submission ends.

A callback is a request from the server to a URL the submitter chose: left
open, that is a way to make the server reach any host it can (an SSRF). So a
URL is taken only if its host, or host and port, matches one of
``ExecutorConfig.callback_hosts`` (shell globs; empty by default, which
refuses every callback); any other is refused with 422 naming
``callback_url``, before anything runs. The request is sent by the HTTP
replica that took the submission, with httpx, never from a sandbox.

What is sent, as Judge0 sends it (``isolate_job.rb``, ``call_callback``):
``PUT`` with the submission's JSON — the fields of a ``GET`` without
``fields``, text in base64 — and ``Content-Type: application/json``; a try
that fails (no connection, a timeout, a 5xx answer) is tried again, at most
:data:`CALLBACK_TRIES` tries in all, each with :data:`CALLBACK_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from faber_ray.errors import TaskValidationError

__all__ = ["CALLBACK_TIMEOUT", "CALLBACK_TRIES", "allowed_callback", "send_callback"]

log = logging.getLogger(__name__)

#: Tries of one callback in all (Judge0's ``CALLBACKS_MAX_TRIES`` default), and seconds each may take.
CALLBACK_TRIES = 3
CALLBACK_TIMEOUT = 5.0
#: The pause before the second try, doubled before each next one.
_BACKOFF = 0.5
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _matches(pattern: str, host: str, port: int) -> bool:
    pattern = pattern.lower()
    if pattern.startswith("["):  # [IPv6] or [IPv6]:port
        want_host, _, rest = pattern[1:].partition("]")
        want_port = rest.removeprefix(":") or "*"
    elif pattern.count(":") == 1:
        want_host, want_port = pattern.split(":")
    else:
        want_host, want_port = pattern, "*"
    return fnmatch.fnmatchcase(host, want_host) and fnmatch.fnmatchcase(str(port), want_port)


def allowed_callback(url: object, patterns: Sequence[str], index: int | None = None) -> str:
    """``url`` if it is an http(s) URL to a host ``patterns`` allow; else refused, naming ``callback_url``."""
    def refuse(reason: str) -> TaskValidationError:
        return TaskValidationError(reason, task_index=index, field="callback_url")

    if not isinstance(url, str):
        raise refuse(f"callback_url must be a string URL, not {type(url).__name__}")
    if not patterns:
        raise refuse("callbacks are disabled here (the executor's callback_hosts is empty); "
                     "poll GET /submissions/{token} instead")
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or ""), parts.port
    except ValueError as error:
        raise refuse(f"callback_url is not a valid URL: {error}") from None
    if parts.scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        raise refuse("callback_url must be an http:// or https:// URL with a host and no user")
    port = port or _DEFAULT_PORTS[parts.scheme]
    if not any(_matches(pattern, host.lower(), port) for pattern in patterns):
        raise refuse(f"callback_url's host {host}:{port} is not one the executor's callback_hosts allows")
    return url


async def send_callback(url: str, body: dict[str, Any], *, tries: int = CALLBACK_TRIES,
                        timeout: float = CALLBACK_TIMEOUT) -> bool:
    """``PUT`` ``body`` to ``url``, tried again on failure; True once an answer below 500 came. Never raises:
    a callback that cannot be delivered is logged, the submission stays readable by ``GET``."""
    pause = _BACKOFF
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for attempt in range(1, tries + 1):
            try:
                answer = await client.put(url, json=body)
                if answer.status_code < 500:
                    return True
                problem = f"answered {answer.status_code}"
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
            log.warning("callback %d/%d for %s to %s failed: %s", attempt, tries, body.get("token"), url, problem)
            if attempt < tries:
                await asyncio.sleep(pause)
                pause *= 2
    return False
