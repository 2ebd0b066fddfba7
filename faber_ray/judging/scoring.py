"""From runs to verdicts, from verdicts to a score, and when to stop: pure logic, unit-tested without an engine.

- A run that did not end by itself cleanly has its verdict from its status,
  as the executor decides it (:func:`verdict_of_status`); only a clean run is
  judged by the checker.
- A custom checker speaks testlib's exit codes (:func:`testlib_verdict`).
- Scoring is IOI's: a test without a group scores its points (or its
  fraction of them, from a partial checker) on its own; a group scores the
  sum of its tests' points only if every one of them is accepted.
- ``stop`` decides which tests are not run at all (:class:`StopRule`); they
  are ``SKIPPED`` and score nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from faber_ray.judging.cases import TestCase, Verdict
from faber_ray.models import TaskStatus

__all__ = ["CHECKER_MESSAGE_BYTES", "Judged", "StopRule", "interactive_verdict", "score", "task_verdict",
           "testlib_verdict", "verdict_of_status"]

#: What a test's result keeps of a checker's output, and of the program's stdout.
CHECKER_MESSAGE_BYTES = 1024

_BY_STATUS = {
    TaskStatus.FAILURE: Verdict.RUNTIME_ERROR,
    TaskStatus.TIMEOUT: Verdict.TIME_LIMIT_EXCEEDED,
    TaskStatus.CPU_LIMIT_EXCEEDED: Verdict.TIME_LIMIT_EXCEEDED,
    TaskStatus.MEMORY_LIMIT_EXCEEDED: Verdict.MEMORY_LIMIT_EXCEEDED,
    TaskStatus.OUTPUT_LIMIT_EXCEEDED: Verdict.OUTPUT_LIMIT_EXCEEDED,
    TaskStatus.ERROR: Verdict.JUDGE_ERROR,
    TaskStatus.CANCELLED: Verdict.SKIPPED,
}


def verdict_of_status(status: TaskStatus) -> Verdict | None:
    """The verdict a run's status decides by itself; None for ``SUCCESS`` (the checker decides)."""
    return _BY_STATUS.get(status)


@dataclass
class Judged:
    """One test's verdict and the fraction of its points it earned on its own (1 if accepted)."""

    verdict: Verdict
    fraction: float = 0.0
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.ACCEPTED


_TESTLIB = {0: Verdict.ACCEPTED, 1: Verdict.WRONG_ANSWER, 2: Verdict.PRESENTATION_ERROR, 3: Verdict.JUDGE_ERROR}
#: testlib's exit code for partial credit: the fraction is the first token of the checker's output.
PARTIAL_EXIT = 7


def testlib_verdict(status: TaskStatus, exit_code: int | None, output: bytes) -> Judged:
    """A custom checker's judgement from how it ended. Anything but a clean exit with one of testlib's
    codes (a crash, a limit, an unknown code, a partial without a fraction in [0, 1]) is ``JUDGE_ERROR``:
    a checker that failed never accepts."""
    message = output[:CHECKER_MESSAGE_BYTES].decode("utf-8", errors="replace")
    if status not in (TaskStatus.SUCCESS, TaskStatus.FAILURE) or exit_code is None or exit_code > 127:
        return Judged(Verdict.JUDGE_ERROR, 0.0, message or f"the checker ended {status.value} (exit {exit_code})")
    if exit_code == PARTIAL_EXIT:
        tokens = output.split(maxsplit=1)
        try:
            fraction = float(tokens[0]) if tokens else math.nan
        except ValueError:
            fraction = math.nan
        if not 0.0 <= fraction <= 1.0:  # NaN fails this too
            return Judged(Verdict.JUDGE_ERROR, 0.0, message or "a partial verdict without a fraction in [0, 1]")
        return Judged(Verdict.ACCEPTED if fraction >= 1.0 else Verdict.WRONG_ANSWER, fraction, message)
    verdict = _TESTLIB.get(exit_code, Verdict.JUDGE_ERROR)
    return Judged(verdict, 1.0 if verdict is Verdict.ACCEPTED else 0.0, message)


def interactive_verdict(program: TaskStatus, interactor: TaskStatus, exit_code: int | None, said: bytes, *,
                        interactor_first: bool) -> Judged:
    """An interactive test's judgement: the interactor's testlib verdict, unless the program failed on its own.

    A program whose input ends when the interactor gives up (too many questions, a wrong answer) often
    crashes on that end of file; the interactor ended first and said why, so its wrong answer (or
    presentation error, or partial credit) stands. Otherwise a program that did not end cleanly has its
    verdict from its status (a program that stops reading ends at its time limit), and only then does
    the interactor's exit decide (anything but a clean testlib code: ``JUDGE_ERROR``).
    """
    judged = testlib_verdict(interactor, exit_code, said)
    if interactor_first and judged.verdict in (Verdict.WRONG_ANSWER, Verdict.PRESENTATION_ERROR):
        return judged
    own = verdict_of_status(program)
    if own is not None:
        return Judged(own, 0.0, judged.message if judged.verdict is not Verdict.JUDGE_ERROR else "")
    return judged


class StopRule:
    """Which tests still run, given the judgements so far (``stop``: never, first_failure, group)."""

    def __init__(self, stop: str, tests: Sequence[TestCase]) -> None:
        self.stop = stop
        self.tests = tests
        self._ended = False
        self._failed_groups: set[str] = set()

    def runs(self, index: int) -> bool:
        """Whether test ``index`` runs (False: it is SKIPPED)."""
        if self._ended:
            return False
        group = self.tests[index].group
        return not (self.stop == "group" and group is not None and group in self._failed_groups)

    def saw(self, index: int, judged: Judged) -> None:
        if judged.accepted:
            return
        if self.stop == "first_failure":
            self._ended = True
        group = self.tests[index].group
        if group is not None:
            self._failed_groups.add(group)

    def end(self) -> None:
        """Nothing more runs (a cancel, a sandbox that failed)."""
        self._ended = True


def score(tests: Sequence[TestCase], judged: Sequence[Judged]) -> tuple[list[float], float, float]:
    """``(points per test, score, max_score)``. A test's points are what it adds to the score: in a
    group, its points if every test of the group is accepted, else zero; alone, its points times its fraction."""
    whole: dict[str, bool] = {}
    for test, verdict in zip(tests, judged):
        if test.group is not None:
            whole[test.group] = whole.get(test.group, True) and verdict.accepted
    points = [
        (test.points if whole[test.group] else 0.0) if test.group is not None else test.points * verdict.fraction
        for test, verdict in zip(tests, judged)
    ]
    return points, sum(points), sum(test.points for test in tests)


def task_verdict(judged: Sequence[Judged]) -> Verdict:
    """The verdict of the first test not accepted, else ACCEPTED."""
    return next((one.verdict for one in judged if not one.accepted), Verdict.ACCEPTED)
