"""A Judge0 CE 1.13.1 submission body as a faber-ray Task, and what must be kept to answer for it later.

Refusals are faber-ray's errors (``TaskValidationError``; ``ResourceLimitError``
for a value over a ceiling; ``SecurityPolicyError`` for network), named by the
Judge0 field, with the index of the submission in a batch; each is raised
before anything runs, and a batch is refused whole (our rule: Judge0 itself
would create the valid ones and answer errors for the rest).

Fields, as the official SDK sends them (``Submission.as_body``):

- honoured: ``source_code``, ``language_id``, ``stdin``, ``expected_output``
  (the run is a judged test, see below), ``number_of_runs`` (1 to 10: the
  program runs that many times, ``time``, ``wall_time`` and ``memory`` are
  their averages), ``callback_url`` (see :mod:`faber_ray.http.judge0.callbacks`),
  ``compiler_options``, ``command_line_arguments``, ``cpu_time_limit``,
  ``wall_time_limit``, ``memory_limit``, ``max_processes_and_or_threads``,
  ``max_file_size``, ``redirect_stderr_to_stdout``, ``enable_network``,
  ``additional_files``. The limits apply to the run step; the compile step keeps
  the language's compile limits. An unset limit takes the executor's default.
- accepted and ignored: ``cpu_extra_time`` (faber-ray kills at the limit; no
  grace period), ``stack_limit`` (faber-ray sets no stack limit of its own; the
  stack is bounded by the memory limit).
- accepted only at the value faber-ray implements:
  ``enable_per_process_and_thread_time_limit`` and ``..._memory_limit`` false
  (faber-ray's limits are for the whole sandbox, which is what Judge0 does
  when they are false).
- unknown fields are ignored, as Judge0 ignores them.

The task is a judged one (:mod:`faber_ray.judging`): the compile, then the
run step once per run, each a ``TestCase`` with ``stdin`` as its input and
``expected_output`` as its answer, judged by the ``lines`` checker (Judge0's
comparison); without ``expected_output`` a run that ended cleanly is accepted.

``compiler_options`` go before the source file in the compile command, where
Judge0's own compile commands put them (``go build`` takes no flag after its
files); ``command_line_arguments`` follow the run command. Both are split as a
shell would (:func:`shlex.split`), never given to a shell.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import shlex
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, NoReturn

from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError, ResourceLimitError, SecurityPolicyError, TaskValidationError
from faber_ray.http.judge0.callbacks import allowed_callback
from faber_ray.http.judge0.files import unpack_additional_files
from faber_ray.judging.cases import Judging, TestCase
from faber_ray.http.judge0.languages import resolve_language
from faber_ray.languages import Language
from faber_ray.models import MAX_INTEGER, ResourceLimits, Step, Task, text_problem
from faber_ray.steps import merge_limits
from faber_ray.validation import validate_task

__all__ = [
    "LIMIT_FIELDS",
    "MAX_NUMBER_OF_RUNS",
    "MAX_OPTIONS_LENGTH",
    "REDIRECT_SCRIPT",
    "Submission",
    "parse_submission",
]

#: Judge0 caps ``compiler_options`` and ``command_line_arguments`` at 512 characters.
MAX_OPTIONS_LENGTH = 512
#: The most runs one submission may ask for (Judge0's ``MAX_NUMBER_OF_RUNS`` default).
MAX_NUMBER_OF_RUNS = 10
#: The run step under ``redirect_stderr_to_stdout``: ``sh -c REDIRECT_SCRIPT sh <run argv>``.
REDIRECT_SCRIPT = 'exec "$@" 2>&1'


@dataclass(frozen=True)
class LimitField:
    """A Judge0 limit and the ``ResourceLimits`` field it sets: ``value * factor`` in faber-ray's unit."""

    judge0: str
    limit: str
    factor: int
    integer: bool
    unit: str


#: The limits a submission sets on its run step.
LIMIT_FIELDS = (
    LimitField("cpu_time_limit", "cpu_time", 1, False, "s"),
    LimitField("wall_time_limit", "timeout", 1, False, "s"),
    LimitField("memory_limit", "memory", 1024, False, "KB"),
    LimitField("max_processes_and_or_threads", "max_processes", 1, True, ""),
    LimitField("max_file_size", "disk", 1024, True, "KB"),
)


@dataclass(frozen=True)
class Submission:
    """What the server keeps per submission to answer ``GET /submissions/{token}`` later.

    ``request`` holds the request's fields as Judge0 echoes them with
    ``fields=*``: the limits resolved to what the run really gets, in Judge0's
    units. ``source_code``, ``stdin`` and ``expected_output`` are the decoded bytes.
    """

    token: str
    language_id: int
    language_name: str
    #: The task has a compile step first (its output goes to ``compile_output``).
    compiled: bool
    created_at: datetime
    source_code: bytes
    stdin: bytes | None
    expected_output: bytes | None
    request: Mapping[str, Any]

    @property
    def nbytes(self) -> int:
        """About how much memory the record holds (what the replica's book counts)."""
        files = self.request.get("additional_files")
        return (
            len(self.source_code) + len(self.stdin or b"") + len(self.expected_output or b"")
            + (len(files) if isinstance(files, str) else 0)
        )

    def portable(self) -> Submission:
        """The settled record with its request as a plain dict, which pickles (a read-only view does
        not): what the replica keeps with the results, to answer after a restart."""
        settled = self.settled()
        return dataclasses.replace(settled, request=dict(settled.request))

    def settled(self) -> Submission:
        """The record once the run is over: ``additional_files`` (a zip of up to 64 MiB) is not kept."""
        if self.request.get("additional_files") is None:
            return self
        return dataclasses.replace(self, request=MappingProxyType({**self.request, "additional_files": None}))


def _refuse(
    index: int | None, field: str, reason: str, kind: type[ExecutorError] = TaskValidationError
) -> NoReturn:
    raise kind(reason, task_index=index, field=field)


def _text(body: Mapping[str, Any], field: str, index: int | None, base64_encoded: bool) -> bytes | None:
    """A string field as bytes: decoded from base64 when the request says its fields are."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        _refuse(index, field, f"{field} must be a string, not {type(value).__name__}")
    return decode_base64(value, field, index) if base64_encoded else _utf8(value, field, index)


def _utf8(value: str, field: str, index: int | None) -> bytes:
    """Text as bytes; a lone surrogate (``"\\ud800"`` in the JSON) has no UTF-8 and is refused by the field."""
    problem = text_problem(value)
    if problem is not None:
        _refuse(index, field, f"{field} is {problem}")
    return value.encode()


def decode_base64(value: str, field: str, index: int | None) -> bytes:
    """Strict base64 (line breaks allowed, as the SDK's own decoder allows them)."""
    try:
        return base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        return _refuse(index, field, f"{field} is not valid base64 (the request says base64_encoded=true)")


def _number(body: Mapping[str, Any], field: str, index: int | None, *, integer: bool) -> float | int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _refuse(index, field, f"{field} must be a number, not {type(value).__name__}")
    if value != value or value in (float("inf"), float("-inf")):
        _refuse(index, field, f"{field} must be a finite number")
    if not -MAX_INTEGER <= value <= MAX_INTEGER:  # never turned into a float or a string: it may have 5,000 digits
        _refuse(index, field, f"{field} must be at most {MAX_INTEGER}")
    if integer and isinstance(value, float) and not value.is_integer():
        _refuse(index, field, f"{field} must be a whole number, got {value}")
    return int(value) if integer else value


def _flag(body: Mapping[str, Any], field: str, index: int | None) -> bool | None:
    value = body.get(field)
    if value is not None and not isinstance(value, bool):
        _refuse(index, field, f"{field} must be true or false, not {type(value).__name__}")
    return value


def _words(body: Mapping[str, Any], field: str, index: int | None) -> tuple[str | None, list[str]]:
    value = body.get(field)
    if value is None:
        return None, []
    if not isinstance(value, str):
        _refuse(index, field, f"{field} must be a string, not {type(value).__name__}")
    if len(value) > MAX_OPTIONS_LENGTH:
        _refuse(index, field, f"{field} is {len(value)} characters; at most {MAX_OPTIONS_LENGTH} are allowed")
    _utf8(value, field, index)
    try:
        return value, shlex.split(value)
    except ValueError as error:
        return _refuse(index, field, f"{field} cannot be split into words as a shell would: {error}")


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:.3f}".rstrip("0")


def _limits(body: Mapping[str, Any], config: ExecutorConfig, index: int | None) -> ResourceLimits:
    """The run step's limits from the Judge0 fields, refused over the executor's ceilings (in Judge0's units)."""
    values: dict[str, float | int] = {}
    for spec in LIMIT_FIELDS:
        value = _number(body, spec.judge0, index, integer=spec.integer)
        if value is None:
            continue
        if not value > 0:
            _refuse(index, spec.judge0, f"{spec.judge0} must be greater than zero, got {value}")
        ceiling = getattr(config.ceilings, spec.limit)
        if ceiling is not None and value * spec.factor > ceiling:
            unit = f" {spec.unit}" if spec.unit else ""
            _refuse(
                index, spec.judge0,
                f"{spec.judge0} is {value}{unit}, over faber-ray's maximum of {_show(ceiling / spec.factor)}{unit} "
                "(see GET /config_info)",
                ResourceLimitError,
            )
        values[spec.limit] = int(value * spec.factor) if spec.factor != 1 else value
    try:
        return ResourceLimits.model_validate(values)
    except ExecutorError as error:  # named by faber-ray's field: name the Judge0 one
        judge0 = next((spec.judge0 for spec in LIMIT_FIELDS if spec.limit == error.field), "submission")
        return _refuse(index, judge0, f"{judge0}: {error.reason}", type(error))


def _accepted_only(body: Mapping[str, Any], config: ExecutorConfig, index: int | None) -> dict[str, Any]:
    """The fields faber-ray takes at one value, or ignores; their echo values."""
    extra = _number(body, "cpu_extra_time", index, integer=False)
    if extra is not None and not 0 <= extra <= (config.ceilings.cpu_time or extra):
        _refuse(index, "cpu_extra_time", f"cpu_extra_time must be between 0 and {config.ceilings.cpu_time}")
    stack = _number(body, "stack_limit", index, integer=True)
    if stack is not None and not stack > 0:
        _refuse(index, "stack_limit", f"stack_limit must be greater than zero, got {stack}")
    runs = _number(body, "number_of_runs", index, integer=True)
    if runs is not None and not 1 <= runs <= MAX_NUMBER_OF_RUNS:
        _refuse(index, "number_of_runs", f"number_of_runs must be from 1 to {MAX_NUMBER_OF_RUNS}, got {runs}")
    for field in ("enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit"):
        if _flag(body, field, index):
            _refuse(index, field, "this option cannot be enabled: faber-ray's limits are for the whole sandbox")
    callback = body.get("callback_url")
    if callback is not None:
        callback = allowed_callback(callback, config.callback_hosts, index)
    return {
        "number_of_runs": int(runs or 1), "cpu_extra_time": str(float(extra or 0)), "stack_limit": stack or 0,
        "enable_per_process_and_thread_time_limit": False, "enable_per_process_and_thread_memory_limit": False,
        "callback_url": callback,
    }


def _compile_argv(lang: Language, options: list[str]) -> list[str]:
    assert lang.compile is not None
    argv = list(lang.compile)
    at = argv.index(lang.source_file) if lang.source_file in argv else len(argv)
    return argv[:at] + options + argv[at:]


def _run_argv(lang: Language, arguments: list[str], redirect: bool) -> list[str]:
    argv = [*lang.run, *arguments]
    return ["sh", "-c", REDIRECT_SCRIPT, "sh", *argv] if redirect else argv


def parse_submission(
    body: object,
    config: ExecutorConfig,
    *,
    base64_encoded: bool,
    index: int | None = None,
    token: str | None = None,
    now: datetime | None = None,
) -> tuple[Task, Submission]:
    """A Judge0 submission body as a checked Task (compile then run, in one sandbox) and its record.

    ``index`` is the submission's place in a batch (``None`` for one on its own);
    ``token`` defaults to a fresh UUID4 (the SDK expects one), ``now`` to the
    current UTC time. Refuses before anything runs; see the module docstring.
    """
    if not isinstance(body, Mapping):
        _refuse(index, "submission", f"a submission must be a JSON object, not {type(body).__name__}")
    entry = resolve_language(body.get("language_id"), index)
    lang = entry.language
    source = _text(body, "source_code", index, base64_encoded)
    if not source:
        _refuse(index, "source_code", "source_code can't be blank")
    assert source is not None
    stdin = _text(body, "stdin", index, base64_encoded)
    expected = _text(body, "expected_output", index, base64_encoded)
    compiler_options, options = _words(body, "compiler_options", index)
    if compiler_options is not None and not lang.compiled:
        _refuse(index, "compiler_options", "setting compiler options is only allowed for compiled languages")
    arguments_text, arguments = _words(body, "command_line_arguments", index)
    redirect = bool(_flag(body, "redirect_stderr_to_stdout", index))
    network = bool(_flag(body, "enable_network", index))
    if network and not config.allow_network:
        _refuse(index, "enable_network", "network access is disabled by the executor's config", SecurityPolicyError)
    echo = _accepted_only(body, config, index)
    run_limits = merge_limits(lang.run_limits, _limits(body, config, index))
    zipped = body.get("additional_files")
    files = unpack_additional_files(zipped, config, index) if zipped is not None else {}
    files.pop(lang.source_file, None)  # Judge0 unzips with -n: the source file is kept
    steps = []
    if lang.compile is not None:
        compile_argv = _compile_argv(lang, options)
        steps.append(Step(command=compile_argv[0], args=compile_argv[1:], limits=lang.compile_limits))
    run_argv = _run_argv(lang, arguments, redirect)
    steps.append(Step(command=run_argv[0], args=run_argv[1:], limits=run_limits))
    run = TestCase(input=stdin or b"", expected_output=expected)
    task = Task(
        steps=steps, image=lang.image, files={**files, lang.source_file: source}, network=network,
        judging=Judging(tests=[run] * echo["number_of_runs"], checker="lines"),
    )
    try:
        task = validate_task(task, config, index or 0)
    except ExecutorError as error:
        raise type(error)(
            error.reason, task_index=index, field=_judge0_field(error.field, lang, bool(files)),
        ) from None
    resolved = config.resolve_limits(run_limits)
    if expected is not None and len(expected) > resolved.max_output:
        # The run's stdout is kept up to max_output: a longer expected output could never match,
        # and the replica would keep it for nothing.
        _refuse(
            index, "expected_output",
            f"expected_output is {len(expected)} bytes, more than the {resolved.max_output} bytes of stdout a run "
            "keeps (max_output), so it could never match",
        )
    request = {
        **echo,
        "cpu_time_limit": str(float(resolved.cpu_time)),
        "wall_time_limit": str(float(resolved.timeout)),
        "memory_limit": resolved.memory // 1024,
        "max_processes_and_or_threads": resolved.max_processes,
        "max_file_size": resolved.disk // 1024,
        "compiler_options": compiler_options,
        "command_line_arguments": arguments_text,
        "redirect_stderr_to_stdout": redirect,
        "enable_network": network,
        "additional_files": zipped,
    }
    submission = Submission(
        token=token or str(uuid.uuid4()),
        language_id=entry.id,
        language_name=entry.name,
        compiled=lang.compiled,
        created_at=now or datetime.now(timezone.utc),
        source_code=source,
        stdin=stdin,
        expected_output=expected,
        request=MappingProxyType(request),
    )
    return task, submission


_STEP_FIELDS = {
    "limits.timeout": "wall_time_limit",
    "limits.cpu_time": "cpu_time_limit",
    "limits.memory": "memory_limit",
    "limits.max_processes": "max_processes_and_or_threads",
    "limits.disk": "max_file_size",
    "stdin": "stdin",
}


def _judge0_field(field: str | None, lang: Language, has_files: bool) -> str:
    """The Judge0 field behind a field of the built task, for a refusal from faber-ray's validation."""
    if field is None:
        return "submission"
    run = "steps.1." if lang.compiled else "steps.0."
    if field.startswith(run):
        rest = field[len(run):]
        if rest.startswith(("args", "command")):
            return "command_line_arguments"
        return _STEP_FIELDS.get(rest, "language_id")
    if field.startswith("steps.0."):  # the compile step: what the language brings, plus compiler_options
        return "compiler_options" if field[len("steps.0."):].startswith(("args", "command")) else "language_id"
    if field == f"files.{lang.source_file}":
        return "source_code"
    if field.startswith("judging.tests."):  # the runs' tests: the stdin and expected_output they carry
        return "expected_output" if field.endswith("expected_output") else "stdin"
    if field.startswith("files"):
        return "additional_files" if has_files else "source_code"
    return {"network": "enable_network", "image": "language_id"}.get(field, field)
