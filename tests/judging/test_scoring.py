"""Verdicts from statuses and testlib exit codes, IOI scoring and the stop rules: pure logic."""

from __future__ import annotations

import pytest

from faber_ray.judging.cases import TestCase, Verdict
from faber_ray.judging.scoring import Judged, StopRule, score, task_verdict, verdict_of_status
from faber_ray.judging.scoring import testlib_verdict as from_testlib
from faber_ray.models import TaskStatus

V, S = Verdict, TaskStatus
AC, WA = Judged(V.ACCEPTED, 1.0), Judged(V.WRONG_ANSWER)


@pytest.mark.parametrize(("status", "verdict"), [
    (S.SUCCESS, None), (S.FAILURE, V.RUNTIME_ERROR), (S.TIMEOUT, V.TIME_LIMIT_EXCEEDED),
    (S.CPU_LIMIT_EXCEEDED, V.TIME_LIMIT_EXCEEDED), (S.MEMORY_LIMIT_EXCEEDED, V.MEMORY_LIMIT_EXCEEDED),
    (S.OUTPUT_LIMIT_EXCEEDED, V.OUTPUT_LIMIT_EXCEEDED), (S.ERROR, V.JUDGE_ERROR), (S.CANCELLED, V.SKIPPED),
])
def test_a_runs_status_decides_its_verdict_unless_it_succeeded(status: TaskStatus, verdict: Verdict | None) -> None:
    assert verdict_of_status(status) is verdict


@pytest.mark.parametrize(("status", "code", "output", "verdict", "fraction"), [
    (S.SUCCESS, 0, b"ok", V.ACCEPTED, 1.0),
    (S.FAILURE, 1, b"wrong", V.WRONG_ANSWER, 0.0),
    (S.FAILURE, 2, b"", V.PRESENTATION_ERROR, 0.0),
    (S.FAILURE, 3, b"", V.JUDGE_ERROR, 0.0),
    (S.FAILURE, 7, b"0.25 a quarter", V.WRONG_ANSWER, 0.25),
    (S.FAILURE, 7, b"1", V.ACCEPTED, 1.0),
    (S.FAILURE, 7, b"", V.JUDGE_ERROR, 0.0),
    (S.FAILURE, 7, b"1.5", V.JUDGE_ERROR, 0.0),
    (S.FAILURE, 7, b"nan", V.JUDGE_ERROR, 0.0),
    (S.FAILURE, 4, b"", V.JUDGE_ERROR, 0.0),
    (S.FAILURE, 139, b"", V.JUDGE_ERROR, 0.0),  # a signal: a crash
    (S.TIMEOUT, None, b"", V.JUDGE_ERROR, 0.0),
    (S.MEMORY_LIMIT_EXCEEDED, 0, b"", V.JUDGE_ERROR, 0.0),
])
def test_testlib_exit_codes_and_a_failed_checker_never_accepts(
    status: TaskStatus, code: int | None, output: bytes, verdict: Verdict, fraction: float
) -> None:
    judged = from_testlib(status, code, output)
    assert (judged.verdict, judged.fraction) == (verdict, fraction)


def test_a_checker_message_is_cut_at_1_kib() -> None:
    assert len(from_testlib(S.FAILURE, 1, b"x" * 5000).message) == 1024


def make_tests(*groups: str | None, points: float = 1.0) -> list[TestCase]:
    return [TestCase(group=group, points=points) for group in groups]


def test_a_group_scores_only_if_every_test_is_accepted_and_lone_tests_score_alone() -> None:
    tests = [TestCase(group="a", points=2), TestCase(group="a", points=3), TestCase(group="b", points=5),
             TestCase(points=1), TestCase(points=4)]
    points, total, most = score(tests, [AC, WA, AC, AC, Judged(V.WRONG_ANSWER, 0.5)])
    assert points == [0.0, 0.0, 5.0, 1.0, 2.0]
    assert (total, most) == (8.0, 15.0)


def test_the_task_verdict_is_the_first_not_accepted() -> None:
    assert task_verdict([AC, AC]) is V.ACCEPTED
    assert task_verdict([AC, Judged(V.TIME_LIMIT_EXCEEDED), WA]) is V.TIME_LIMIT_EXCEEDED


def run_all(stop: str, tests: list[TestCase], verdicts: list[Judged]) -> list[bool]:
    rule, ran = StopRule(stop, tests), []
    for index, judged in enumerate(verdicts):
        ran.append(rule.runs(index))
        if ran[-1]:
            rule.saw(index, judged)
    return ran


def test_stop_rules() -> None:
    tests = make_tests("a", "a", "a", "b", None, None)
    verdicts = [AC, WA, AC, AC, WA, AC]
    assert run_all("never", tests, verdicts) == [True] * 6
    assert run_all("first_failure", tests, verdicts) == [True, True, False, False, False, False]
    # The rest of group a is skipped; b and the lone tests still run (a lone failure skips nothing).
    assert run_all("group", tests, verdicts) == [True, True, False, True, True, True]


def test_the_interactive_verdict_order() -> None:
    from faber_ray.judging.scoring import interactive_verdict

    # The interactor gave up first: its wrong answer stands over the program's crash on end of input.
    assert interactive_verdict(S.FAILURE, S.FAILURE, 1, b"too many", interactor_first=True).verdict is V.WRONG_ANSWER
    assert interactive_verdict(S.FAILURE, S.FAILURE, 2, b"", interactor_first=True).verdict is V.PRESENTATION_ERROR
    # The program ended first on its own: its status decides.
    assert interactive_verdict(S.TIMEOUT, S.FAILURE, 2, b"eof", interactor_first=False).verdict is \
        V.TIME_LIMIT_EXCEEDED
    assert interactive_verdict(S.FAILURE, S.SUCCESS, 0, b"", interactor_first=False).verdict is V.RUNTIME_ERROR
    # A clean program: the interactor's code; anything but testlib's is a judge error, never accepted.
    assert interactive_verdict(S.SUCCESS, S.SUCCESS, 0, b"", interactor_first=True).verdict is V.ACCEPTED
    assert interactive_verdict(S.SUCCESS, S.TIMEOUT, None, b"", interactor_first=False).verdict is V.JUDGE_ERROR
    assert interactive_verdict(S.SUCCESS, S.FAILURE, 42, b"", interactor_first=True).verdict is V.JUDGE_ERROR
    partial = interactive_verdict(S.SUCCESS, S.FAILURE, 7, b"0.5 half", interactor_first=False)
    assert (partial.verdict, partial.fraction) == (V.WRONG_ANSWER, 0.5)
