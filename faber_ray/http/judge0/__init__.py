"""Judge0 CE 1.13.1's submission API, translated to and from faber-ray: pure, no Ray, no FastAPI.

The routes (:mod:`faber_ray.http.judge0.routes`) call only this module. What it
gives them:

- requests: :func:`parse_submission` (one body), :func:`parse_batch`
  (``{"submissions": [...]}``, refused whole, the index in the error),
  :func:`parse_tokens` and :func:`parse_fields` (query parameters);
- answers: :func:`submission_json` (pending or finished, the fields asked
  for, base64 or not), :func:`languages`, :func:`language`, :func:`statuses`,
  :func:`all_languages`, :func:`about`, :func:`config_info`;
- refusals: :func:`error_response` turns any ``ExecutorError`` into Judge0's
  status code and body.

The official SDK (judge0 0.0.8) checks these shapes: ``Client()`` reads
``/languages`` and ``/config_info`` (every key of its ``Config`` is required),
maps its aliases through ``/about``'s ``version``, and reads every key of a
``fields=*`` answer into its ``Submission`` (a key it does not know fails).
The request fields and units are in :mod:`faber_ray.http.judge0.requests`, the
status mapping in :mod:`faber_ray.http.judge0.results`, the zip of
``additional_files`` in :mod:`faber_ray.http.judge0.files`, the language ids in
:mod:`faber_ray.http.judge0.languages`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from faber_ray import __version__
from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError, TaskValidationError
from faber_ray.http.judge0.callbacks import CALLBACK_TIMEOUT, CALLBACK_TRIES, allowed_callback, send_callback
from faber_ray.http.judge0.languages import JUDGE0_LANGUAGES, all_languages, language, languages, resolve_language
from faber_ray.http.judge0.requests import LIMIT_FIELDS, MAX_NUMBER_OF_RUNS, Submission, parse_submission
from faber_ray.http.judge0.results import (
    ALL_FIELDS,
    DEFAULT_FIELDS,
    STATUSES,
    Verdict,
    outputs_match,
    parse_fields,
    statuses,
    submission_json,
    verdict,
)
from faber_ray.models import Task

__all__ = [
    "ALL_FIELDS",
    "DEFAULT_FIELDS",
    "JUDGE0_LANGUAGES",
    "JUDGE0_VERSION",
    "MAX_BATCH_SIZE",
    "MAX_NUMBER_OF_RUNS",
    "MAX_SUBMISSION_BATCH_SIZE",
    "STATUSES",
    "UNBOUNDED",
    "Submission",
    "Verdict",
    "about",
    "all_languages",
    "allowed_callback",
    "config_info",
    "error_body",
    "error_response",
    "language",
    "languages",
    "outputs_match",
    "parse_batch",
    "parse_fields",
    "parse_submission",
    "parse_tokens",
    "resolve_language",
    "send_callback",
    "statuses",
    "submission_json",
    "verdict",
]

#: The version ``/about`` reports: the SDK picks its language alias table by it.
JUDGE0_VERSION = "1.13.1"
#: Submissions one batch may create or read (Judge0's default, which the SDK chunks by).
MAX_SUBMISSION_BATCH_SIZE = 20
#: The same, by the name the routes use.
MAX_BATCH_SIZE = MAX_SUBMISSION_BATCH_SIZE
#: What ``config_info`` reports for a limit without a ceiling: the most Judge0's integer columns hold.
UNBOUNDED = 2**31 - 1
#: Refusals Judge0 answers with 400 ``{"error": reason}`` (its query and batch checks), not 422.
_BAD_REQUEST_FIELDS = frozenset({"fields", "submissions", "tokens"})


def about() -> dict[str, Any]:
    """``GET /about``."""
    return {
        "version": JUDGE0_VERSION,
        "homepage": "",
        "source_code": "",
        "maintainer": f"faber-ray {__version__}, serving Judge0 CE {JUDGE0_VERSION}'s submission API",
    }


def config_info(config: ExecutorConfig) -> dict[str, Any]:
    """``GET /config_info``: every key of the SDK's ``Config``, faber-ray's real defaults and ceilings in
    Judge0's units (seconds, KB).

    What faber-ray does not do reads as off: per-process limits, deleting
    submissions, a stack limit of its own (0), extra CPU time (0: a submission
    is killed at its limit). Callbacks are on when the config allows a host
    (``callback_hosts``); ``number_of_runs`` up to :data:`MAX_NUMBER_OF_RUNS`.
    ``enable_number_of_runs`` is one key more than Judge0's (the SDK ignores it):
    whether ``number_of_runs`` is honoured. A limit the config puts no
    ceiling on reports :data:`UNBOUNDED` as its maximum. ``max_extract_size`` is
    ``max_files_bytes``, which the unpacked ``additional_files`` must fit.
    """
    defaults = config.resolve_limits(None)
    judge0 = {spec.limit: spec for spec in LIMIT_FIELDS}

    def ceiling(limit: str) -> float:
        most = getattr(config.ceilings, limit)
        return float(UNBOUNDED) if most is None else float(most) / judge0[limit].factor

    return {
        "allow_enable_network": config.allow_network,
        "allow_enable_per_process_and_thread_memory_limit": False,
        "allow_enable_per_process_and_thread_time_limit": False,
        "allowed_languages_for_compile_options": [],  # Judge0: empty means every (compiled) language
        "callbacks_max_tries": CALLBACK_TRIES,
        "callbacks_timeout": CALLBACK_TIMEOUT,
        "cpu_extra_time": 0.0,
        "cpu_time_limit": float(defaults.cpu_time),
        "enable_additional_files": True,
        "enable_batched_submissions": True,
        "enable_callbacks": bool(config.callback_hosts),
        "enable_command_line_arguments": True,
        "enable_compiler_options": True,
        "enable_network": False,
        "enable_number_of_runs": True,
        "enable_per_process_and_thread_memory_limit": False,
        "enable_per_process_and_thread_time_limit": False,
        "enable_submission_delete": False,
        "enable_wait_result": True,
        "maintenance_mode": False,
        "max_cpu_extra_time": ceiling("cpu_time"),
        "max_cpu_time_limit": ceiling("cpu_time"),
        "max_extract_size": config.max_files_bytes // 1024,
        "max_file_size": defaults.disk // 1024,
        "max_max_file_size": int(ceiling("disk")),
        "max_max_processes_and_or_threads": int(ceiling("max_processes")),
        "max_memory_limit": int(ceiling("memory")),
        "max_number_of_runs": MAX_NUMBER_OF_RUNS,
        "max_processes_and_or_threads": defaults.max_processes,
        "max_queue_size": config.queue_size,
        "max_stack_limit": 0,
        "max_submission_batch_size": MAX_SUBMISSION_BATCH_SIZE,
        "max_wall_time_limit": ceiling("timeout"),
        "memory_limit": defaults.memory // 1024,
        "number_of_runs": 1,
        "redirect_stderr_to_stdout": False,
        "stack_limit": 0,
        "submission_cache_duration": 0.0,
        "use_docs_as_homepage": False,
        "wall_time_limit": float(defaults.timeout),
    }


def _batch_size(count: int, field: str) -> None:
    if count > MAX_SUBMISSION_BATCH_SIZE:
        raise TaskValidationError(
            f"number of submissions in a batch should be less than or equal to {MAX_SUBMISSION_BATCH_SIZE}",
            field=field,
        )
    if count == 0:
        raise TaskValidationError("there should be at least one submission in a batch", field=field)


def parse_batch(
    body: object, config: ExecutorConfig, *, base64_encoded: bool, now: datetime | None = None
) -> list[tuple[Task, Submission]]:
    """``POST /submissions/batch``'s ``{"submissions": [...]}`` as tasks and records, in order.

    The whole batch is refused on the first bad submission, its index in the
    error, before anything runs (Judge0 would create the good ones).
    """
    submissions = body.get("submissions") if isinstance(body, Mapping) else None
    if not isinstance(submissions, list):
        raise TaskValidationError('a batch is {"submissions": [...]}, a list of submissions', field="submissions")
    _batch_size(len(submissions), "submissions")
    return [
        parse_submission(one, config, base64_encoded=base64_encoded, index=index, now=now)
        for index, one in enumerate(submissions)
    ]


def parse_tokens(tokens: str | None) -> list[str]:
    """``GET /submissions/batch?tokens=a,b,c``: the tokens in order (1 to the batch size; field ``tokens``)."""
    names = [token.strip() for token in (tokens or "").split(",") if token.strip()]
    _batch_size(len(names), "tokens")
    return names


def error_body(error: ExecutorError) -> dict[str, Any]:
    """Judge0's validation error body: ``{"<field>": ["<reason>"]}``, plus ``"index"`` in a batch."""
    body: dict[str, Any] = {error.field or "submission": [error.reason]}
    if error.task_index is not None:
        body["index"] = error.task_index
    return body


def error_response(error: ExecutorError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body for a refusal: 400 ``{"error": reason}`` for ``fields``, ``tokens``
    and the batch's shape (as Judge0 answers those), 422 :func:`error_body` for a submission's field."""
    if error.field in _BAD_REQUEST_FIELDS:
        return 400, {"error": error.reason}
    return 422, error_body(error)
