"""The per-execution state machine, without Ray."""

from __future__ import annotations

import pytest

from faber_ray.models import Task
from faber_ray.scheduling.lifecycle import CancelAction, ExecutionBook, Phase
from faber_ray.scheduling.ledger import Need
from faber_ray.scheduling.fairqueue import QueuedTask


def item(execution_id: str) -> QueuedTask:
    return QueuedTask(execution_id, Task(command="true"), Need(1))


def test_an_execution_moves_through_its_phases_in_order() -> None:
    book = ExecutionBook()
    book.expect("a")
    assert book.accept(item("a")) is None
    assert book.get("a").phase is Phase.WAITING  # type: ignore[union-attr]
    book.queue("a")
    book.start("a", "worker-1")
    assert (book.get("a").phase, book.get("a").worker) == (Phase.RUNNING, "worker-1")  # type: ignore[union-attr]
    book.finish("a")
    assert book.ids(Phase.DELIVERING) == ["a"]
    book.delivered("a")
    assert "a" not in book and len(book) == 0


def test_a_retry_goes_back_to_the_queue_and_forgets_its_worker() -> None:
    book = ExecutionBook()
    book.accept(item("a"))
    book.queue("a")
    book.start("a", "worker-1")
    book.queue("a")
    assert (book.get("a").phase, book.get("a").worker) == (Phase.QUEUED, None)  # type: ignore[union-attr]


def test_impossible_moves_are_refused() -> None:
    book = ExecutionBook()
    book.accept(item("a"))
    with pytest.raises(ValueError, match="waiting to running"):
        book.start("a", "worker-1")


@pytest.mark.parametrize(
    ("steps", "action"),
    [
        ([], CancelAction.END_NOW),  # waiting for room
        (["queue"], CancelAction.END_NOW),
        (["queue", "start"], CancelAction.KILL),
        (["queue", "start", "finish"], CancelAction.TOO_LATE),
    ],
    ids=["waiting", "queued", "running", "delivering"],
)
def test_cancel_depends_on_the_phase_alone(steps: list[str], action: CancelAction) -> None:
    book = ExecutionBook()
    book.accept(item("a"))
    for step in steps:
        getattr(book, step)("a", *(["w"] if step == "start" else []))
    assert book.cancel("a", "by the test") is action
    if action is not CancelAction.TOO_LATE:
        assert book.get("a").cancel_reason == "by the test"  # type: ignore[union-attr]


def test_a_cancel_before_the_task_arrives_is_remembered_only_if_it_is_expected() -> None:
    book = ExecutionBook()
    assert book.cancel("unknown", "x") is CancelAction.TOO_LATE
    book.expect("a")
    assert book.cancel("a", "early") is CancelAction.REMEMBER
    assert book.accept(item("a")) == "early"
    assert book.accept(item("b")) is None


def test_ids_and_counts_follow_acceptance_order() -> None:
    book = ExecutionBook()
    for name in "cab":
        book.accept(item(name))
    book.queue("a")
    assert book.ids(Phase.WAITING) == ["c", "b"]
    assert (book.count(Phase.WAITING), book.count(Phase.QUEUED)) == (2, 1)
