"""The public data model: what a task is, what its limits are, what comes back.

The models only check *types*; every rule about values (empty commands, paths,
ceilings, policy) lives in :mod:`faber_ray.validation`, so a refusal always
names the task index and the field in one consistent error.
"""

from __future__ import annotations

import base64
import binascii
import enum
import math
import re
from fractions import Fraction
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationInfo
from pydantic_core import PydanticCustomError

from faber_ray.reporting import ReportingModel, text_problem

if TYPE_CHECKING:  # defined in faber_ray.judging.cases, which completes these models (see the end of this module)
    from faber_ray.judging.cases import Judging, TestResult, Verdict

__all__ = [
    "MAX_INTEGER",
    "ByteCount",
    "Count",
    "Number",
    "Text",
    "ExecutionStatistics",
    "OutputChunk",
    "ResourceLimits",
    "ResourceUsage",
    "Step",
    "StepResult",
    "Task",
    "TaskResult",
    "TaskStatus",
    "UserStatistics",
    "parse_byte_count",
    "refuse_bool",
    "text_problem",
    "within_integer_range",
]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
#: The largest count or size a task may give: what a 64-bit signed integer holds, as the
#: kernel's limits, cgroup files and the Docker API take them.
MAX_INTEGER = 2**63 - 1
#: Digits of a size string's whole part beyond which no unit can bring it under MAX_INTEGER.
_MAX_SIZE_DIGITS = len(str(MAX_INTEGER))
#: Digits of a size string's fraction that can still matter (1e-20 of a tebibyte is no byte).
_MAX_FRACTION_DIGITS = 20


def _too_large() -> PydanticCustomError:
    return PydanticCustomError("too_large", "Input should be at most {most}", {"most": MAX_INTEGER})


def parse_byte_count(value: object) -> object:
    """Accept ``268435456``, ``"256m"``, ``"256MiB"`` or ``"1g"`` (binary units, as Docker does).

    A size string is read exactly (``"1.5k"`` is 1536; no detour through a float,
    which rounds large numbers and overflows at 1e309), and one with more digits
    than any limit could hold is refused at once, before Python is asked to turn
    thousands of digits into an integer. Anything that is not a size string is
    handed on unchanged, so pydantic reports the type error with the field's name.
    """
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            number, unit, _ = match.groups()
            whole, _, fraction = number.partition(".")
            if len(whole.lstrip("0")) > _MAX_SIZE_DIGITS:
                raise _too_large()
            exact = Fraction(f"{whole}.{fraction[:_MAX_FRACTION_DIGITS] or 0}") * _UNITS[unit.lower()]
            return int(exact)
    return value


def refuse_bool(value: object) -> object:
    """Booleans are not numbers here: ``timeout=True`` must not mean one second."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "Input should be a number, not a boolean")
    return value


def within_integer_range(value: object) -> object:
    """A count or size past :data:`MAX_INTEGER` would overflow every place it goes (a message, a cgroup
    file, the engine); refuse it here by the field's name, in whatever form it comes: an integer, a float
    such as ``1e19``, or a string of digits (pydantic would read 5,000 of them before refusing)."""
    number: object = value
    if isinstance(value, str):
        digits = value.strip()
        unsigned = digits[1:] if digits[:1] in ("+", "-") else digits
        if not (unsigned.isascii() and unsigned.isdigit()):
            return value
        if len(unsigned.lstrip("0")) > _MAX_SIZE_DIGITS:
            raise _too_large()
        number = int(digits)
    if isinstance(number, float) and not math.isfinite(number):
        return value  # pydantic refuses it as not finite
    if isinstance(number, (int, float)) and not isinstance(number, bool) and not -MAX_INTEGER <= number <= MAX_INTEGER:
        raise _too_large()
    return value


def _utf8_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("text_utf8", problem)
    return value


# Pydantic runs before-validators last to first: booleans are refused before anything else.
ByteCount = Annotated[
    int, BeforeValidator(within_integer_range), BeforeValidator(parse_byte_count), BeforeValidator(refuse_bool)
]
Count = Annotated[int, BeforeValidator(within_integer_range), BeforeValidator(refuse_bool)]
Number = Annotated[float, BeforeValidator(refuse_bool)]
#: A string that is text: encodable as UTF-8 (no lone surrogates). In a union, put it before ``bytes``.
Text = Annotated[str, AfterValidator(_utf8_text)]


def _from_base64(value: object, info: ValidationInfo) -> object:
    """In JSON, bytes are base64: the standard alphabet, the URL-safe one accepted too."""
    if info.mode != "json" or not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error:
        raise PydanticCustomError("base64", "Input should be base64") from None


def _to_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# Bytes that JSON carries as standard base64 (``base64.b64decode`` reads it),
# and that Python code sees as bytes.
Base64Bytes = Annotated[bytes, BeforeValidator(_from_base64), PlainSerializer(_to_base64, when_used="json")]


class TaskStatus(str, enum.Enum):
    """How a task ended. See :data:`faber_ray.status.STATUS_PRECEDENCE` for ties."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    TIMEOUT = "TIMEOUT"
    MEMORY_LIMIT_EXCEEDED = "MEMORY_LIMIT_EXCEEDED"
    CPU_LIMIT_EXCEEDED = "CPU_LIMIT_EXCEEDED"
    OUTPUT_LIMIT_EXCEEDED = "OUTPUT_LIMIT_EXCEEDED"
    CANCELLED = "CANCELLED"
    ERROR = "ERROR"

    def __str__(self) -> str:
        return self.value


class _Model(BaseModel):
    # NaN and infinity compare false with every bound, so they would slip past
    # the "greater than zero" and ceiling checks; refuse them as type errors.
    model_config = ConfigDict(extra="forbid", validate_assignment=False, allow_inf_nan=False)


class ResourceLimits(ReportingModel, _Model):
    """Per-task limits. A field left ``None`` takes the ``ExecutorConfig`` default.

    Building one with a wrong type raises ``TaskValidationError`` naming the field.
    """

    timeout: Number | None = Field(default=None, description="Wall-clock seconds.")
    cpu_time: Number | None = Field(
        default=None, description="CPU seconds summed over every process in the sandbox."
    )
    memory: ByteCount | None = Field(default=None, description="Bytes of memory (no swap).")
    max_processes: Count | None = Field(default=None, description="Processes and threads at once.")
    max_output: ByteCount | None = Field(default=None, description="Bytes kept per stream.")
    disk: ByteCount | None = Field(default=None, description="Bytes of writable space.")


class Step(ReportingModel, _Model):
    """One command of a task with steps: its own stdin, env and limits, in the task's shared workspace."""

    command: Text
    args: list[Text] | None = None
    env: dict[Text, Text] | None = Field(default=None, description="Merged over the task's env.")
    stdin: Text | bytes | None = None
    limits: ResourceLimits | None = Field(
        default=None, description="Missing fields fall back to the task's limits, then the config's defaults."
    )
    continue_on_failure: bool = Field(default=False, description="Run the next step even if this one fails.")

    def argv(self) -> list[str]:
        return [self.command, *(self.args or [])]


class Task(ReportingModel, _Model):
    """One command, or a list of steps, to run in one sandbox of its own.

    Building one with a wrong type (``Task(command="echo", args="hi")``) raises
    ``TaskValidationError`` naming the field; the rules about values (a task has
    ``command`` or ``steps``, never both) are checked by
    :func:`faber_ray.validate_batch` and the executor.
    """

    command: Text | None = None
    args: list[Text] | None = None
    env: dict[Text, Text] | None = None
    files: dict[Text, Text | bytes] | None = None
    stdin: Text | bytes | None = None
    image: Text | None = None
    limits: ResourceLimits | None = None
    network: bool = False
    steps: list[Step] | None = Field(default=None, description="Commands run in order in one sandbox.")
    collect: list[Text] | None = Field(
        default=None, description="Glob patterns (** allowed) of files to return, relative to the working directory."
    )
    judging: Judging | None = Field(
        default=None,
        description="Tests to judge the last step's program on, each from the workspace the earlier steps left.",
    )
    dedupe: bool | None = Field(
        default=None,
        description="Share one run with identical tasks (same content), or never; None follows ExecutorConfig.dedupe.",
    )

    def argv(self) -> list[str]:
        """The full command line: ``command`` followed by ``args`` (the first step's, for a task with steps)."""
        if self.command is None and self.steps:
            return self.steps[0].argv()
        return [self.command or "", *(self.args or [])]


class ResourceUsage(_Model):
    """What a task consumed, read from its container's cgroup."""

    wall_time: float = 0.0
    cpu_time: float = 0.0
    peak_memory: int = 0
    peak_processes: int = 0
    startup_time: float = Field(
        default=0.0, description="Seconds from container create to process start."
    )
    stdout_bytes: int = Field(default=0, description="Bytes the task wrote to stdout, kept or not.")
    stderr_bytes: int = Field(default=0, description="Bytes the task wrote to stderr, kept or not.")


class StepResult(_Model):
    """How one step of a task with steps went."""

    status: TaskStatus
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    resource_usage: ResourceUsage = Field(default_factory=ResourceUsage)
    resource_limits_exceeded: list[str] = Field(default_factory=list)


class TaskResult(_Model):
    """Everything known about one execution. In JSON, ``files`` hold base64."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    execution_id: str
    status: TaskStatus
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    resource_usage: ResourceUsage = Field(default_factory=ResourceUsage)
    resource_limits_exceeded: list[str] = Field(default_factory=list)
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    node_id: str = ""
    image: str = ""
    attempts: int = Field(default=1, description="Runs it took, counting infrastructure retries.")
    sandbox: Literal["warm", "fresh"] = Field(
        default="fresh", description="How it ran: in a reused (warm) container, or in one made for it alone."
    )
    cached: bool = Field(
        default=False, description="Served from the run of an identical task (dedupe), not run for itself."
    )
    cached_from: str | None = Field(default=None, description="With cached: the execution id of the run it shares.")
    steps: list[StepResult] | None = Field(default=None, description="One per step that ran; None for a command.")
    files: dict[str, Base64Bytes] = Field(
        default_factory=dict, description="What collect matched, by relative path (base64 in JSON)."
    )
    file_errors: dict[str, str] = Field(
        default_factory=dict, description="Paths (or patterns) that matched but were not returned, and why."
    )
    verdict: Verdict | None = Field(
        default=None, description="A judged task's: its first test not accepted, COMPILATION_ERROR, or ACCEPTED."
    )
    score: float = Field(default=0.0, description="Points of the accepted tests (and groups); 0 without tests.")
    max_score: float = Field(default=0.0, description="Points of every test; 0 without tests.")
    tests: list[TestResult] | None = Field(default=None, description="One per test of a judged task, else None.")


class OutputChunk(_Model):
    """A piece of a running task's output, as it was written (``TaskExecutor.stream`` and ``watch``)."""

    stream: Literal["stdout", "stderr"]
    data: Base64Bytes
    step: int | None = Field(default=None, description="Which step wrote it (None for a command task).")


class UserStatistics(_Model):
    """One user's tasks now, and their share of the slots (``ExecutionStatistics.users``)."""

    queued: int = Field(0, description="Accepted, not dispatched yet (in the queue or waiting for room).")
    running: int = Field(0, description="Dispatched: running, or next on a worker.")
    done: int = Field(0, description="Finished since the executor started.")
    weight: float = Field(1.0, description="Its weight in the fair share (ExecutorConfig.user_weights).")
    share: float = Field(0.0, description="Its fraction of the dispatched tasks now.")
    fair_share: float = Field(
        0.0, description="What its weight entitles it to now: weight over the sum of the weights of users with work."
    )


class ExecutionStatistics(_Model):
    """A snapshot of the executor's counters."""

    total: int = 0
    by_status: dict[str, int] = Field(default_factory=dict)
    wall_time_mean: float = 0.0
    wall_time_p50: float = 0.0
    wall_time_p95: float = 0.0
    throughput: float = Field(default=0.0, description="Finished tasks per second since the first.")
    queued: int = 0
    running: int = 0
    users: dict[str, UserStatistics] = Field(
        default_factory=dict, description="Per user (tasks with no user: 'anonymous'); a user's token sees only its own."
    )
    cache_hits: int = Field(default=0, description="Tasks served a stored result of an identical task (dedupe).")
    single_flight_joins: int = Field(default=0, description="Tasks that shared the run of an identical task running then.")


# Last: faber_ray.judging.cases needs this module's models, and gives Task and TaskResult its types.
import faber_ray.judging.cases  # noqa: E402,F401
