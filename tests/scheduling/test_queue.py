"""TaskQueue: a bounded FIFO whose retries jump the line and may exceed the bound."""

from __future__ import annotations

import pytest

from faber_ray.models import Task, TaskStatus
from faber_ray.scheduling.ledger import Need
from faber_ray.scheduling.queue import QueuedTask, TaskQueue


def item(execution_id: str) -> QueuedTask:
    return QueuedTask(execution_id, Task(command="true"), need=Need(1))


def test_fifo_order() -> None:
    queue = TaskQueue(10)
    for name in "abc":
        queue.push(item(name))
    assert [queue.pop().execution_id for _ in range(3)] == ["a", "b", "c"]  # type: ignore[union-attr]
    assert queue.pop() is None
    assert len(queue) == 0


def test_push_past_capacity_is_refused_not_dropped() -> None:
    queue = TaskQueue(2)
    queue.push(item("a"))
    assert queue.has_room()
    queue.push(item("b"))
    assert not queue.has_room()
    with pytest.raises(OverflowError):
        queue.push(item("c"))
    assert [i.execution_id for i in queue.drain()] == ["a", "b"]


def test_push_front_goes_ahead_and_may_exceed_capacity() -> None:
    queue = TaskQueue(2)
    queue.push(item("a"))
    queue.push(item("b"))
    retried = item("r")
    retried.attempts = 1
    queue.push_front(retried)
    assert len(queue) == 3
    assert queue.peek() is retried
    assert [queue.pop().execution_id for _ in range(3)] == ["r", "a", "b"]  # type: ignore[union-attr]


def test_remove_from_the_middle() -> None:
    queue = TaskQueue(5)
    for name in "abc":
        queue.push(item(name))
    removed = queue.remove("b")
    assert removed is not None and removed.execution_id == "b"
    assert queue.remove("b") is None
    assert "b" not in queue and "a" in queue
    assert [i.execution_id for i in queue.drain()] == ["a", "c"]
    assert len(queue) == 0 and queue.peek() is None


def test_ids_in_dispatch_order() -> None:
    queue = TaskQueue(3)
    for name in "ab":
        queue.push(item(name))
    queue.push_front(item("r"))
    assert queue.ids() == ["r", "a", "b"]
    assert len(queue) == 3  # listing does not consume


def test_peek_does_not_pop() -> None:
    queue = TaskQueue(1)
    queue.push(item("a"))
    assert queue.peek().execution_id == "a"  # type: ignore[union-attr]
    assert len(queue) == 1


@pytest.mark.parametrize("capacity", [0, -1])
def test_capacity_must_be_positive(capacity: int) -> None:
    with pytest.raises(ValueError):
        TaskQueue(capacity)


def test_an_ended_task_says_why_and_keeps_its_attempts_and_image() -> None:
    item = QueuedTask("e1", Task(command="true"), Need(0), attempts=2)
    result = item.ended(TaskStatus.ERROR, "worker lost", image="faber-ray/python:3", sandbox="warm", node="n1")
    assert (result.execution_id, result.status, result.error) == ("e1", TaskStatus.ERROR, "worker lost")
    assert (result.attempts, result.image, result.sandbox, result.node_id) == (2, "faber-ray/python:3", "warm", "n1")
    own = QueuedTask("e2", Task(command="true", image="faber-ray/gcc:12"), Need(0))
    assert own.ended(TaskStatus.CANCELLED, "cancelled", image="faber-ray/python:3", sandbox="fresh").image == "faber-ray/gcc:12"
