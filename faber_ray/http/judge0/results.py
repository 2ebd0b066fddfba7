"""A faber-ray TaskResult as a Judge0 CE 1.13.1 submission: its status, its outputs, the fields asked for.

Judge0 reports the run step: ``stdout``, ``stderr``, ``time`` (CPU seconds, a
string such as ``"0.012"``), ``wall_time``, ``memory`` (peak KB; faber-ray's
peak counts the sandbox's tmpfs too), ``exit_code``, ``exit_signal``. The compile
step's stdout and stderr (in that order) are ``compile_output``. An empty
output is ``null``, as in Judge0. A command killed by signal N exits 128 + N in
faber-ray, so such an exit code sets ``exit_signal`` N (the code itself is
kept; a program that exits 128 + N on its own looks the same).

The status mapping (see :data:`STATUSES` for the names):

======================================  ==========================================
faber-ray                               Judge0
======================================  ==========================================
queued / running                        1 In Queue / 2 Processing
compile step did not succeed            6 Compilation Error (``compile_output``)
SUCCESS                                 3 Accepted, or 4 Wrong Answer when
                                        ``expected_output`` is given and differs
TIMEOUT, CPU_LIMIT_EXCEEDED             5 Time Limit Exceeded
FAILURE, killed by SIGSEGV/SIGXFSZ/     7 / 8 / 9 / 10 Runtime Error (SIGSEGV,
SIGFPE/SIGABRT                          SIGXFSZ, SIGFPE, SIGABRT)
FAILURE, another signal                 12 Runtime Error (Other)
FAILURE, a non-zero exit                11 Runtime Error (NZEC)
MEMORY_LIMIT_EXCEEDED                   12 Runtime Error (Other): Judge0 has no
                                        memory status; an OOM kill is a SIGKILL
OUTPUT_LIMIT_EXCEEDED                   8 Runtime Error (SIGXFSZ): a size limit
ERROR                                   13 Internal Error
CANCELLED                               13 Internal Error: the judge did not judge
======================================  ==========================================

``message`` reads as Judge0's (isolate's) does — "Time limit exceeded",
"Exited with error status 1", "Caught fatal signal 11" — and, where Judge0 has
no status of its own (memory, output, ERROR, CANCELLED), names faber-ray's
status and error. A compile step that timed out gives "Compilation time limit
exceeded." as ``compile_output``, as Judge0 does.

Accepted or Wrong Answer: the submission's runs are a judged task's tests
(see :mod:`faber_ray.http.judge0.requests`), each judged by faber-ray's
``lines`` checker, Judge0's rule (``isolate_job.rb``, ``strip``): trailing
whitespace stripped from each line and trailing blank lines dropped, then
compared exactly. Deviations: an empty ``expected_output`` matches an empty
stdout (Judge0 compares its ``nil`` stdout with ``""`` and says Wrong Answer),
and a trailing NUL is kept (Ruby's ``rstrip`` drops it). With
``number_of_runs`` N, the status is that of the first run that was not
accepted; ``time``, ``wall_time`` and ``memory`` are the averages over the runs,
``stdout``, ``stderr`` and ``exit_code`` the last run's (the failing one's exit
code, if one failed). :func:`outputs_match` is Judge0's own rule, kept for
comparison.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Union

from faber_ray.errors import TaskValidationError
from faber_ray.http.judge0.requests import Submission
from faber_ray.judging.cases import TestResult
from faber_ray.judging.cases import Verdict as TestVerdict
from faber_ray.models import StepResult, TaskResult, TaskStatus

__all__ = [
    "ALL_FIELDS",
    "DEFAULT_FIELDS",
    "ENCODED_FIELDS",
    "STATUSES",
    "TIMESTAMP_FORMAT",
    "Verdict",
    "outputs_match",
    "parse_fields",
    "statuses",
    "submission_json",
    "verdict",
]

STATUSES: Mapping[int, str] = {
    1: "In Queue", 2: "Processing", 3: "Accepted", 4: "Wrong Answer", 5: "Time Limit Exceeded",
    6: "Compilation Error", 7: "Runtime Error (SIGSEGV)", 8: "Runtime Error (SIGXFSZ)",
    9: "Runtime Error (SIGFPE)", 10: "Runtime Error (SIGABRT)", 11: "Runtime Error (NZEC)",
    12: "Runtime Error (Other)", 13: "Internal Error", 14: "Exec Format Error",
}
#: Signals Judge0 names a status after; any other is 12, Runtime Error (Other).
_SIGNAL_STATUS = {11: 7, 25: 8, 8: 9, 6: 10}
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

#: What ``GET /submissions/{token}`` returns without ``fields`` (Judge0's ``Fields::Submission``).
DEFAULT_FIELDS = ("token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status")
#: Every field, in Judge0's order: what ``fields=*`` returns.
ALL_FIELDS = (
    "source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at",
    "finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit",
    "cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
    "max_file_size", "compile_output", "exit_code", "exit_signal", "message", "wall_time",
    "compiler_options", "command_line_arguments", "redirect_stderr_to_stdout", "callback_url",
    "additional_files", "enable_network", "status", "language",
)
#: Base64 when the request says ``base64_encoded=true`` (``additional_files`` always is).
ENCODED_FIELDS = frozenset({"source_code", "stdin", "expected_output", "stdout", "stderr", "compile_output", "message"})

_Run = Union[StepResult, TaskResult]
_WHITESPACE = " \t\n\v\f\r\x00"  # what Ruby's String#rstrip removes


def statuses() -> list[dict[str, Any]]:
    """``GET /statuses``: ``[{"id", "description"}, ...]``."""
    return [{"id": status_id, "description": name} for status_id, name in STATUSES.items()]


def parse_fields(fields: str | None) -> tuple[str, ...]:
    """The ``fields`` query parameter: Judge0's defaults when absent, ``*`` for all, or a comma list.

    Refuses unknown names (field ``fields``) with Judge0's sentence, "invalid fields: [a, b]".
    """
    if fields is None or not fields.strip():
        return DEFAULT_FIELDS
    if fields.strip() == "*":
        return ALL_FIELDS
    names = [name.strip() for name in fields.split(",") if name.strip()]
    invalid = [name for name in names if name not in ALL_FIELDS]
    if invalid:
        raise TaskValidationError(f"invalid fields: [{', '.join(invalid)}]", field="fields")
    return tuple(dict.fromkeys(names))


def _strip(text: str) -> str:
    return "\n".join(line.rstrip(_WHITESPACE) for line in text.split("\n")).rstrip(_WHITESPACE)


def outputs_match(expected: str, stdout: str | None) -> bool:
    """Judge0's Accepted: equal after trailing whitespace is stripped from each line and from the end."""
    return _strip(expected) == _strip(stdout or "")


@dataclass(frozen=True)
class Verdict:
    """The result fields of a finished submission, in Judge0's terms (text not yet encoded)."""

    status_id: int
    message: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    compile_output: str | None = None
    exit_code: int | None = None
    exit_signal: int | None = None
    time: str | None = None
    wall_time: str | None = None
    memory: int | None = None


def _signal(exit_code: int | None) -> int | None:
    return exit_code - 128 if exit_code is not None and 128 < exit_code <= 128 + 64 else None


def _faber(run: _Run, what: str, fallback: str | None = None) -> str:
    error = run.error or fallback
    return f"{what} (faber-ray {run.status.value})" + (f": {error}" if error else "")


def _run_status(run: _Run, expected: bytes | None) -> tuple[int, str | None]:
    """Judge0's status id and message for how the run step ended."""
    status, code = run.status, run.exit_code
    if status is TaskStatus.SUCCESS:
        if expected is None or outputs_match(expected.decode(errors="replace"), run.stdout):
            return 3, None
        return 4, None
    if status is TaskStatus.TIMEOUT:
        return 5, "Time limit exceeded (wall clock)"
    if status is TaskStatus.CPU_LIMIT_EXCEEDED:
        return 5, "Time limit exceeded"
    if status is TaskStatus.MEMORY_LIMIT_EXCEEDED:
        return 12, _faber(run, "Memory limit exceeded")
    if status is TaskStatus.OUTPUT_LIMIT_EXCEEDED:
        cut = [name for name in ("stdout", "stderr") if getattr(run, f"{name}_truncated")]
        return 8, _faber(run, "Output limit exceeded", f"{' and '.join(cut) or 'output'} cut at the limit")
    if status is TaskStatus.FAILURE and code is not None:
        signal = _signal(code)
        if signal is None:
            return 11, f"Exited with error status {code}"
        return _SIGNAL_STATUS.get(signal, 12), f"Caught fatal signal {signal}"
    if status is TaskStatus.CANCELLED:
        return 13, _faber(run, "Cancelled", "the submission was cancelled")
    return 13, _faber(run, "Internal error", "the sandbox failed")


def _nonempty(text: str) -> str | None:
    return text or None


def _steps(submission: Submission, result: TaskResult) -> tuple[StepResult | None, StepResult | None]:
    """The compile step's result (if the language compiles and it ran) and the run step's (if it ran)."""
    steps = result.steps or []
    compiling = steps[0] if submission.compiled and steps else None
    runs = steps[1:] if submission.compiled else steps
    return compiling, (runs[0] if runs else None)


def verdict(submission: Submission, result: TaskResult) -> Verdict:
    """The Judge0 result fields of a finished task (see the module's status mapping)."""
    compiling, run = _steps(submission, result)
    compile_output = _nonempty(compiling.stdout + compiling.stderr) if compiling is not None else None
    if compiling is not None and compiling.status is not TaskStatus.SUCCESS:
        status_id, message = _run_status(compiling, None)
        if compiling.status in (TaskStatus.ERROR, TaskStatus.CANCELLED):
            return Verdict(status_id, message, compile_output=compile_output)
        if compiling.status in (TaskStatus.TIMEOUT, TaskStatus.CPU_LIMIT_EXCEEDED):
            return Verdict(6, compile_output="Compilation time limit exceeded.")
        return Verdict(6, None if compiling.status is TaskStatus.FAILURE else message, compile_output=compile_output)
    if result.tests is not None:
        return _judged(result, compile_output)
    if run is None:
        # No step reported running the program: the task ended around it (an ERROR, a cancel).
        status_id, message = _run_status(result, None)
        if result.status is TaskStatus.SUCCESS:
            status_id, message = 13, "Internal error (faber-ray): the run step reported no result"
        return Verdict(status_id, message, compile_output=compile_output)
    status_id, message = _run_status(run, submission.expected_output)
    usage = run.resource_usage
    return Verdict(
        status_id, message, _nonempty(run.stdout), _nonempty(run.stderr), compile_output,
        run.exit_code, _signal(run.exit_code),
        f"{usage.cpu_time:.3f}", f"{usage.wall_time:.3f}", usage.peak_memory // 1024,
    )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _judged(result: TaskResult, compile_output: str | None) -> Verdict:
    """A judged submission (its runs are tests): the status of the first run not accepted, the averages."""
    ran: list[TestResult] = [test for test in result.tests or [] if test.verdict is not TestVerdict.SKIPPED]
    message: str | None
    if not ran:  # no run started: the task ended around them (an ERROR, a cancel)
        status_id, message = _run_status(result, None)
        if status_id == 3:
            status_id, message = 13, _faber(result, "Internal error", "no run of the program was judged")
        return Verdict(status_id, message, compile_output=compile_output)
    failing = next((test for test in ran if test.verdict is not TestVerdict.ACCEPTED), None)
    exit_code = (failing or ran[-1]).exit_code
    message = None
    if result.verdict is TestVerdict.ACCEPTED:
        status_id = 3
    elif result.verdict in (TestVerdict.WRONG_ANSWER, TestVerdict.PRESENTATION_ERROR):
        status_id = 4
    else:  # a limit, a crash, an error: the run's status (the task's first status that was not SUCCESS)
        status_id, message = _run_status(result.model_copy(update={"exit_code": exit_code}), None)
        if status_id == 3:
            status_id, message = 13, _faber(result, "Internal error", "the judging did not finish")
    return Verdict(
        status_id, message, _nonempty(result.stdout), _nonempty(result.stderr), compile_output,
        exit_code, _signal(exit_code), f"{_mean([test.time for test in ran]):.3f}",
        f"{_mean([test.wall_time for test in ran]):.3f}", int(_mean([test.memory for test in ran])) // 1024,
    )


def _timestamp(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime(TIMESTAMP_FORMAT)


def _encode(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode("ascii")


def _text(value: str | bytes | None) -> str | None:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def submission_json(
    submission: Submission,
    result: TaskResult | None = None,
    *,
    running: bool = False,
    finished_at: datetime | None = None,
    fields: Iterable[str] = DEFAULT_FIELDS,
    base64_encoded: bool = False,
) -> dict[str, Any]:
    """The Judge0 JSON of ``submission``: pending (``result`` None; ``running`` says 2 rather than 1) or finished.

    ``fields`` come from :func:`parse_fields`; ``finished_at`` is when the
    server got the result. With ``base64_encoded``, the text fields of
    :data:`ENCODED_FIELDS` are base64.
    """
    if result is None:
        found = Verdict(2 if running else 1)
        finished_at = None
    else:
        found = verdict(submission, result)
    values: dict[str, Any] = {
        **submission.request,
        "source_code": submission.source_code,
        "language_id": submission.language_id,
        "stdin": submission.stdin,
        "expected_output": submission.expected_output,
        "stdout": found.stdout, "stderr": found.stderr, "compile_output": found.compile_output,
        "message": found.message, "exit_code": found.exit_code, "exit_signal": found.exit_signal,
        "time": found.time, "wall_time": found.wall_time, "memory": found.memory,
        "status_id": found.status_id,
        "status": {"id": found.status_id, "description": STATUSES[found.status_id]},
        "language": {"id": submission.language_id, "name": submission.language_name},
        "token": submission.token,
        "created_at": _timestamp(submission.created_at),
        "finished_at": _timestamp(finished_at),
    }
    answer: dict[str, Any] = {}
    for name in fields:
        value = values[name]
        if name in ENCODED_FIELDS and value is not None:
            value = _encode(value) if base64_encoded else _text(value)
        answer[name] = value
    return answer
