"""How the facts of a run become its status: one ordered list, first match wins."""

from __future__ import annotations

import itertools

import pytest

from faber_ray.models import TaskStatus
from faber_ray.status import LIMIT_STATUS, STATUS_PRECEDENCE, ExecutionFacts, decide_status

S = TaskStatus


def test_precedence_order() -> None:
    assert STATUS_PRECEDENCE == (
        S.CANCELLED, S.ERROR, S.MEMORY_LIMIT_EXCEEDED, S.CPU_LIMIT_EXCEEDED, S.TIMEOUT,
        S.OUTPUT_LIMIT_EXCEEDED, S.FAILURE, S.SUCCESS,
    )
    assert set(STATUS_PRECEDENCE) == set(TaskStatus)


@pytest.mark.parametrize(
    ("facts", "status"),
    [
        (ExecutionFacts(exit_code=0), S.SUCCESS),
        (ExecutionFacts(exit_code=1), S.FAILURE),
        (ExecutionFacts(exit_code=127), S.FAILURE),
        (ExecutionFacts(exit_code=-1), S.FAILURE),
        (ExecutionFacts(exit_code=None), S.ERROR),  # no exit code: the run was lost
        (ExecutionFacts(exit_code=0, error="engine gone"), S.ERROR),
        (ExecutionFacts(exit_code=137, limits_hit={"memory"}), S.MEMORY_LIMIT_EXCEEDED),
        (ExecutionFacts(exit_code=137, limits_hit={"cpu_time"}), S.CPU_LIMIT_EXCEEDED),
        (ExecutionFacts(exit_code=137, limits_hit={"timeout"}), S.TIMEOUT),
        (ExecutionFacts(exit_code=137, limits_hit={"max_output"}), S.OUTPUT_LIMIT_EXCEEDED),
        (ExecutionFacts(exit_code=137, cancelled=True), S.CANCELLED),
        # A limit without a status of its own leaves the exit code to decide.
        (ExecutionFacts(exit_code=0, limits_hit={"max_processes"}), S.SUCCESS),
        (ExecutionFacts(exit_code=153, limits_hit={"disk"}), S.FAILURE),
        # A limit recorded although the process exited 0 still wins (it was killed at the end).
        (ExecutionFacts(exit_code=0, limits_hit={"timeout"}), S.TIMEOUT),
    ],
)
def test_single_causes(facts: ExecutionFacts, status: TaskStatus) -> None:
    assert decide_status(facts) is status


@pytest.mark.parametrize(
    ("facts", "status"),
    [
        (ExecutionFacts(exit_code=137, limits_hit={"max_output", "timeout"}), S.TIMEOUT),
        (ExecutionFacts(exit_code=137, limits_hit={"timeout", "cpu_time"}), S.CPU_LIMIT_EXCEEDED),
        (ExecutionFacts(exit_code=137, limits_hit={"cpu_time", "memory"}), S.MEMORY_LIMIT_EXCEEDED),
        (ExecutionFacts(exit_code=137, limits_hit={"memory", "cpu_time", "timeout", "max_output"}),
         S.MEMORY_LIMIT_EXCEEDED),
        (ExecutionFacts(exit_code=137, limits_hit={"memory"}, error="engine gone"), S.ERROR),
        (ExecutionFacts(exit_code=None, limits_hit={"timeout"}), S.ERROR),
        (ExecutionFacts(exit_code=None, cancelled=True, error="engine gone", limits_hit={"memory"}), S.CANCELLED),
        (ExecutionFacts(exit_code=137, cancelled=True, limits_hit={"timeout", "max_output"}), S.CANCELLED),
        (ExecutionFacts(exit_code=0, cancelled=True), S.CANCELLED),
    ],
)
def test_several_causes_at_once(facts: ExecutionFacts, status: TaskStatus) -> None:
    assert decide_status(facts) is status


CAUSES = ["cancelled", "error", "memory", "cpu_time", "timeout", "max_output", "exit_1"]


def _facts(causes: tuple[str, ...]) -> ExecutionFacts:
    return ExecutionFacts(
        exit_code=1 if "exit_1" in causes else 0,
        limits_hit={cause for cause in causes if cause in LIMIT_STATUS},
        cancelled="cancelled" in causes,
        error="boom" if "error" in causes else None,
    )


_CAUSE_STATUS = {"cancelled": S.CANCELLED, "error": S.ERROR, "exit_1": S.FAILURE, **LIMIT_STATUS}


@pytest.mark.parametrize("size", range(1, len(CAUSES) + 1))
def test_every_combination_picks_the_highest_cause(size: int) -> None:
    for causes in itertools.combinations(CAUSES, size):
        expected = min((_CAUSE_STATUS[cause] for cause in causes), key=STATUS_PRECEDENCE.index)
        assert decide_status(_facts(causes)) is expected, causes


def test_no_cause_is_success() -> None:
    assert decide_status(_facts(())) is S.SUCCESS


def test_limit_status_covers_the_limit_statuses() -> None:
    assert set(LIMIT_STATUS.values()) == {
        S.MEMORY_LIMIT_EXCEEDED, S.CPU_LIMIT_EXCEEDED, S.TIMEOUT, S.OUTPUT_LIMIT_EXCEEDED,
    }
