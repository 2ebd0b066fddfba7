"""What a judged task is made of: its tests, its checker, its stop rule; and what each test's judgement is.

Plain pydantic models, no engine. ``Judging`` rides on a ``Task``
(``Task.judging``) so that a judged task flows through the executor like any
other; ``faber_ray.languages.task(..., tests=...)`` builds it. The models
check types; the rules about values (a known checker, a number for EPS, a
group with a name) are in :mod:`faber_ray.judging.rules`, so that the
language form and the plain task form refuse bad input naming their own
fields.

This module imports ``faber_ray.models`` (for ``ResourceLimits`` and the text
types) and ``faber_ray.models`` names ``Judging``, ``Verdict`` and
``TestResult`` in its own models; both orders of import end with those models
complete (see :func:`_complete_the_task_models`).
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from faber_ray import models
from faber_ray.models import Number, ResourceLimits, Text
from faber_ray.reporting import ReportingModel

__all__ = ["STOP_RULES", "Checker", "Judging", "Stop", "TestCase", "TestResult", "Verdict"]

#: When a judged task stops running its tests (see ``faber_ray.judging.scoring``).
Stop = Literal["never", "first_failure", "group"]
STOP_RULES: tuple[str, ...] = ("never", "first_failure", "group")

_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)


class Verdict(str, enum.Enum):
    """How one test was judged (and a task: its first test not accepted)."""

    ACCEPTED = "ACCEPTED"
    WRONG_ANSWER = "WRONG_ANSWER"
    PRESENTATION_ERROR = "PRESENTATION_ERROR"
    TIME_LIMIT_EXCEEDED = "TIME_LIMIT_EXCEEDED"
    MEMORY_LIMIT_EXCEEDED = "MEMORY_LIMIT_EXCEEDED"
    OUTPUT_LIMIT_EXCEEDED = "OUTPUT_LIMIT_EXCEEDED"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    COMPILATION_ERROR = "COMPILATION_ERROR"
    SKIPPED = "SKIPPED"
    JUDGE_ERROR = "JUDGE_ERROR"

    def __str__(self) -> str:
        return self.value


class TestCase(ReportingModel):
    """One test: the program's stdin, the answer (kept on the host, never in the program's sandbox),
    what it is worth, and the group it belongs to (a group scores only if all its tests are accepted)."""

    __test__ = False  # not a pytest class, whatever its name
    model_config = _CONFIG

    input: Text | bytes = ""
    expected_output: Text | bytes | None = Field(
        default=None, description="The answer; None: a built-in checker accepts any output of a clean run."
    )
    points: Number = Field(default=1.0, ge=0)
    group: Text | None = None
    name: Text | None = None


class Checker(ReportingModel):
    """A program that judges one test (testlib's ``checker <input> <output> <answer>``), in any of
    faber-ray's languages; it runs in a sandbox of its own, out of the judged program's reach."""

    model_config = _CONFIG

    language: Text
    source: Text | bytes
    limits: ResourceLimits | None = None


class Judging(ReportingModel):
    """What turns a task's last step into a judged program: run once per test, each from the workspace
    the earlier steps (the compile) left, and judged by ``checker``."""

    model_config = _CONFIG

    tests: list[TestCase]
    checker: Text | Checker = "lines"
    stop: Stop = "never"
    interactor: Checker | None = None


class TestResult(BaseModel):
    """How one test went. ``points`` is what it adds to the task's score (zero in a group that failed)."""

    __test__ = False
    model_config = _CONFIG

    index: int
    name: str | None = None
    group: str | None = None
    verdict: Verdict
    points: float = 0.0
    time: float = Field(default=0.0, description="CPU seconds.")
    wall_time: float = 0.0
    memory: int = Field(default=0, description="Peak bytes.")
    exit_code: int | None = None
    checker_message: str = ""
    stdout: str = Field(default="", description="The program's stdout, its first 1 KiB.")


def _complete_the_task_models() -> None:
    """``Task`` and ``TaskResult`` name this module's types; give them the names and finish them."""
    names = {"Judging": Judging, "Verdict": Verdict, "TestResult": TestResult}
    for model in (models.Task, models.TaskResult):
        model.model_rebuild(_types_namespace=names)


_complete_the_task_models()
