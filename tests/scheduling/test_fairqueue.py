"""FairQueue: per-user FIFOs under strict priorities, shared by running tasks per weight."""

from __future__ import annotations

import random
from collections import Counter, deque

import pytest

from faber_ray.models import Task, TaskStatus
from faber_ray.scheduling.fairqueue import ANONYMOUS, FairQueue, QueuedTask
from faber_ray.scheduling.ledger import Need

TASK = Task(command="true")


def item(execution_id: str, user: str = ANONYMOUS, priority: int = 0) -> QueuedTask:
    return QueuedTask(execution_id, TASK, Need(1), user, priority=priority)


def ids_of(queue: FairQueue, count: int, running: dict[str, int] | None = None) -> list[str]:
    """Pop ``count`` tasks against fixed running counts."""
    popped = [queue.pop(running or {}) for _ in range(count)]
    return [p.execution_id for p in popped if p is not None]


def simulate(queue: FairQueue, slots: int, dispatches: int, *, oldest_first: bool, seed: int = 7) -> list[QueuedTask]:
    """Run the queue as the Scheduler would: fill ``slots``, then end one running task (the oldest, or one
    at random) and fill again, until ``dispatches`` tasks have started; returns them in start order."""
    rng = random.Random(seed)
    running: Counter[str] = Counter()
    live: deque[QueuedTask] = deque()
    started: list[QueuedTask] = []
    while len(started) < dispatches:
        while len(live) < slots and len(started) < dispatches:
            popped = queue.pop(running)
            if popped is None:
                return started
            running[popped.fair_user] += 1
            live.append(popped)
            started.append(popped)
        if oldest_first:
            done = live.popleft()
        else:
            live.rotate(-rng.randrange(len(live)))
            done = live.popleft()
        running[done.fair_user] -= 1
    return started


def test_positional_construction_and_defaults() -> None:
    queued = QueuedTask("e1", TASK, Need(1), "alice")
    assert (queued.user, queued.attempts, queued.priority) == ("alice", 0, 0)
    assert QueuedTask("e2", TASK, Need(1)).user is None
    assert QueuedTask("e2", TASK, Need(1)).fair_user == ANONYMOUS == "anonymous"


def test_fifo_within_one_user() -> None:
    queue = FairQueue(10)
    for name in "abcd":
        queue.push(item(name, "alice"))
    assert ids_of(queue, 5) == ["a", "b", "c", "d"]
    assert queue.pop({}) is None and len(queue) == 0


def test_two_users_alternate() -> None:
    queue = FairQueue(100)
    for n in range(5):
        queue.push(item(f"a{n}", "alice"))
    for n in range(5):
        queue.push(item(f"b{n}", "bob"))
    running: Counter[str] = Counter()
    order = []
    for _ in range(10):
        popped = queue.pop(running)
        assert popped is not None
        running[popped.fair_user] += 1
        order.append(popped.execution_id)
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2", "a3", "b3", "a4", "b4"]


@pytest.mark.parametrize("oldest_first", [True, False])
def test_weights_give_proportional_shares(oldest_first: bool) -> None:
    queue = FairQueue(20_000, weights={"alice": 3.0, "bob": 1.0})
    for n in range(5_000):
        queue.push(item(f"a{n}", "alice"))
        queue.push(item(f"b{n}", "bob"))
    started = simulate(queue, slots=8, dispatches=4_000, oldest_first=oldest_first)
    shares = Counter(task.fair_user for task in started)
    assert len(started) == 4_000
    assert shares["alice"] == pytest.approx(3_000, rel=0.1)
    assert shares["bob"] == pytest.approx(1_000, rel=0.1)


def test_a_late_user_is_served_ahead_of_a_flood() -> None:
    queue = FairQueue(200_000)
    for n in range(100_000):
        queue.push(item(f"f{n}", "flooder"))
    slots = 8
    running: Counter[str] = Counter()
    live: deque[QueuedTask] = deque()
    for _ in range(slots):  # the flooder holds every slot
        popped = queue.pop(running)
        assert popped is not None and popped.fair_user == "flooder"
        running[popped.fair_user] += 1
        live.append(popped)
    for n in range(10):
        queue.push(item(f"late{n}", "late"))
    pops = 0
    while queue.count("late"):
        done = live.popleft()
        running[done.fair_user] -= 1
        popped = queue.pop(running)
        assert popped is not None
        running[popped.fair_user] += 1
        live.append(popped)
        pops += 1
    assert pops <= 20
    assert queue.count("flooder") == 100_000 - slots - (pops - 10)


def test_priority_is_strict() -> None:
    queue = FairQueue(2_000)
    for n in range(1_000):
        queue.push(item(f"low{n}", "alice"))
    queue.push(item("urgent", "bob", priority=5))
    # bob already runs far more than alice, yet his higher priority goes first
    assert ids_of(queue, 1, {"bob": 50}) == ["urgent"]
    assert ids_of(queue, 1) == ["low0"]


def test_max_running_per_user_skips_a_capped_user_even_to_a_lower_priority() -> None:
    queue = FairQueue(10, max_running_per_user=2)
    queue.push(item("a-high", "alice", priority=9))
    queue.push(item("b-low", "bob", priority=0))
    assert ids_of(queue, 1, {"alice": 2}) == ["b-low"]
    assert ids_of(queue, 1, {"alice": 1}) == ["a-high"]


def test_pop_is_none_when_every_user_is_capped() -> None:
    queue = FairQueue(10, max_running_per_user=1)
    queue.push(item("a", "alice"))
    queue.push(item("b", "bob"))
    assert queue.pop({"alice": 1, "bob": 3}) is None
    assert len(queue) == 2
    assert ids_of(queue, 1, {"alice": 1}) == ["b"]


def test_remove_from_the_middle() -> None:
    queue = FairQueue(10)
    for name in "abc":
        queue.push(item(name, "alice"))
    queue.push(item("x", "bob", priority=3))
    removed = queue.remove("b")
    assert removed is not None and removed.execution_id == "b"
    assert queue.remove("b") is None
    assert "b" not in queue and "a" in queue and len(queue) == 3
    assert queue.remove("x") is not None
    assert queue.users() == {"alice": 2}
    assert ids_of(queue, 3) == ["a", "c"]


def test_push_front_goes_first_and_may_exceed_capacity() -> None:
    queue = FairQueue(2)
    queue.push(item("a", "alice"))
    queue.push(item("b", "bob"))
    retried = item("r", "bob")
    retried.attempts = 1
    queue.push_front(retried)
    assert len(queue) == 3 and not queue.has_room()
    # the retry's sequence is older than alice's head, so it breaks the tie with her
    assert ids_of(queue, 3) == ["r", "a", "b"]


def test_push_refuses_when_full() -> None:
    queue = FairQueue(2)
    queue.push(item("a"))
    assert queue.has_room()
    queue.push(item("b", "bob"))
    assert not queue.has_room()
    with pytest.raises(OverflowError, match=r"queue is full \(2 tasks\)"):
        queue.push(item("c", "carol"))
    assert len(queue) == 2 and "c" not in queue


def test_ids_by_priority_then_round_robin() -> None:
    queue = FairQueue(20)
    for n in range(3):
        queue.push(item(f"a{n}", "alice"))
    queue.push(item("b0", "bob"))
    queue.push(item("b1", "bob"))
    queue.push(item("h0", "carol", priority=1))
    queue.push(item("h1", "alice", priority=1))
    queue.push_front(item("r", "bob"))
    assert queue.ids() == ["h0", "h1", "r", "a0", "b0", "a1", "b1", "a2"]
    assert len(queue) == 8  # listing does not consume


def test_count_and_users_follow_pushes_and_pops() -> None:
    queue = FairQueue(10)
    assert queue.users() == {} and queue.count("alice") == 0
    queue.push(item("a0", "alice"))
    queue.push(item("a1", "alice", priority=2))
    queue.push(item("b0", "bob"))
    assert queue.users() == {"alice": 2, "bob": 1}
    assert queue.count("alice") == 2 and queue.count("bob") == 1
    while queue.pop({}) is not None:
        pass
    assert queue.users() == {} and queue.count("alice") == 0


def test_empty_structures_are_dropped() -> None:
    queue = FairQueue(10_000)
    for n in range(1_000):
        queue.push(item(f"t{n}", f"user{n}", priority=n % 7))
    while queue.pop({}) is not None:
        pass
    assert queue._levels == {} and queue._priorities == [] and queue._counts == {} and queue._where == {}


def test_many_tasks_of_one_user() -> None:
    queue = FairQueue(100_000)
    for n in range(100_000):
        queue.push(item(f"t{n}", "alice"))
    assert not queue.has_room() and queue.count("alice") == 100_000
    assert queue.remove("t50000") is not None
    popped = ids_of(queue, 100_000, {"alice": 3})
    assert len(popped) == 99_999 and popped[:2] == ["t0", "t1"] and popped[-1] == "t99999"
    assert len(queue) == 0


@pytest.mark.parametrize("capacity", [0, -1])
def test_capacity_must_be_positive(capacity: int) -> None:
    with pytest.raises(ValueError):
        FairQueue(capacity)


@pytest.mark.parametrize("weight", [0.0, -1.0])
def test_weights_must_be_positive(weight: float) -> None:
    with pytest.raises(ValueError):
        FairQueue(10, weights={"alice": weight})


def test_an_ended_task_says_why_and_keeps_its_attempts_and_image() -> None:
    queued = QueuedTask("e1", TASK, Need(0), attempts=2)
    result = queued.ended(TaskStatus.ERROR, "worker lost", image="faber-ray/python:3", sandbox="warm", node="n1")
    assert (result.execution_id, result.status, result.error) == ("e1", TaskStatus.ERROR, "worker lost")
    assert (result.attempts, result.image, result.sandbox, result.node_id) == (2, "faber-ray/python:3", "warm", "n1")
    own = QueuedTask("e2", Task(command="true", image="faber-ray/gcc:12"), Need(0))
    assert own.ended(TaskStatus.CANCELLED, "cancelled", image="faber-ray/python:3", sandbox="fresh").image == "faber-ray/gcc:12"
