"""Placement: the cluster-wide cap split into permits, a backlog per worker, least-loaded node first."""

from __future__ import annotations

import pytest

from faber_ray.scheduling.ledger import Need
from faber_ray.scheduling.placement import BACKLOG, Placement


def two_nodes(cap: int = 6) -> Placement:
    placement = Placement(cap)
    placement.add_worker("a0", "A", 0)
    placement.add_worker("a1", "A", 1)
    placement.add_worker("b0", "B", 0)
    return placement


def test_permits_add_up_to_the_cap_and_spread_over_nodes_first() -> None:
    placement = Placement(10)
    changes = [placement.add_worker(f"{node}{i}", node, i) for i in range(4) for node in "AB"]
    assert sum(w.permits for w in placement.workers()) == 10
    # The first worker of every node gets the spare permits before any second worker does.
    assert {w.name: w.permits for w in placement.workers()} == {
        "A0": 2, "B0": 2, "A1": 1, "B1": 1, "A2": 1, "B2": 1, "A3": 1, "B3": 1,
    }
    assert changes[0] == {"A0": 10}  # alone, it had the whole cap
    _, changed = placement.remove_worker("B3")
    assert sum(w.permits for w in placement.workers()) == 10 and changed


def test_more_workers_than_the_cap_leaves_some_without_permits() -> None:
    placement = Placement(2)
    for name, node in (("a0", "A"), ("b0", "B"), ("c0", "C")):
        placement.add_worker(name, node, 0)
    assert sorted(w.permits for w in placement.workers()) == [0, 1, 1]
    assert placement.worker_for("C") is None  # no permit, no room


def test_a_worker_holds_its_permits_plus_a_backlog_and_runs_the_first_ones() -> None:
    placement = two_nodes(cap=3)  # a0, b0, a1: one permit each
    room = {w.name: w.free for w in placement.workers()}
    assert room == {"a0": 1 + BACKLOG, "a1": 1 + BACKLOG, "b0": 1 + BACKLOG}
    for number in range(1 + BACKLOG):
        placement.assign("a0", f"t{number}")
    assert placement.running == 1 and placement.backlog == BACKLOG
    assert placement.running_ids() == ["t0"] and placement.backlog_ids() == [f"t{n}" for n in range(1, 1 + BACKLOG)]
    with pytest.raises(RuntimeError):
        placement.assign("a0", "one-too-many")
    placement.release("t0")  # the next one runs now, in order
    assert placement.running_ids() == ["t1"]


def test_a_busy_worker_takes_more_only_a_permits_worth_at_a_time() -> None:
    placement = Placement(3)
    placement.add_worker("a0", "A", 0)  # all three permits
    (worker,) = placement.workers()
    number = 0
    while worker.free:
        placement.assign("a0", f"t{number}")
        number += 1
    # It stops with two places open: less than a permit's worth, so it waits for company.
    assert number == 3 * (1 + BACKLOG) - 2
    placement.release("t0")
    assert worker.free == 3


def test_the_cap_holds_however_much_is_assigned() -> None:
    placement = two_nodes(cap=3)
    for number, plan in enumerate(placement.plan(100)):
        worker = placement.worker_for(plan[0])
        assert worker is not None
        placement.assign(worker, f"t{number}")
    assert placement.running == 3  # everything else is backlog
    assert placement.backlog == 3 * BACKLOG
    assert placement.plan(5) == []


def test_spreads_to_the_least_loaded_node_then_least_busy_worker() -> None:
    placement = two_nodes()
    assert placement.preferred_nodes() == ["A", "B"]  # tie: by node id
    placement.assign(placement.worker_for("A"), "t1")  # type: ignore[arg-type]
    assert placement.worker_of("t1") == "a0"
    assert placement.preferred_nodes() == ["B", "A"]
    placement.assign(placement.worker_for("B"), "t2")  # type: ignore[arg-type]
    assert placement.worker_for("A") == "a1"  # A's idle worker
    assert placement.running_on("A") == 1 and placement.running_on("B") == 1


def test_release_returns_the_worker_and_frees_the_room() -> None:
    placement = two_nodes()
    placement.assign("b0", "t1")
    assert placement.release("t1") == "b0"
    assert placement.release("t1") is None
    assert placement.running == 0 and placement.running_on("B") == 0


def test_remove_worker_forgets_its_executions() -> None:
    placement = two_nodes()
    placement.assign("a0", "t1")
    placement.assign("a0", "t2")
    placement.assign("b0", "t3")
    held, _ = placement.remove_worker("a0")
    assert held == ["t1", "t2"]
    assert placement.running == 1
    assert placement.worker_of("t1") is None
    assert placement.release("t1") is None  # a late release of a lost task is harmless
    assert not placement.has_worker("a0")
    assert placement.workers_on("A") == ["a1"]
    assert placement.remove_worker("a0") == ([], {})


def test_nodes_follow_workers() -> None:
    placement = two_nodes()
    assert placement.nodes() == {"A", "B"}
    placement.remove_worker("b0")
    assert placement.nodes() == {"A"}
    assert "B" not in placement.preferred_nodes()
    assert sorted(w.name for w in placement.workers()) == ["a0", "a1"]
    assert placement.node_of("a0") == "A" and placement.node_of("b0") is None


def test_plan_spreads_a_round_over_nodes_within_the_room() -> None:
    placement = Placement(max_concurrent=3)
    for name, node in (("a1", "A"), ("b1", "B"), ("c1", "C")):
        placement.add_worker(name, node, 1)
    placement.assign("a1", "busy")
    plans = placement.plan(10)
    assert len(plans) == 3 * (1 + BACKLOG) - 1
    assert [plan[0] for plan in plans[:3]] == ["B", "C", "A"]
    assert plans[0] == ["B", "C", "A"]  # fallbacks, least loaded first


def test_plan_is_empty_when_all_room_is_taken() -> None:
    placement = Placement(max_concurrent=1)
    placement.add_worker("a1", "A", 1)
    for number in range(1 + BACKLOG):
        placement.assign("a1", f"x{number}")
    assert placement.plan(3) == []


def test_by_node_shows_each_nodes_workers_sorted_with_their_slots_and_backlog() -> None:
    placement = Placement(3)
    for name, node in (("w-b", "A"), ("w-a", "A"), ("w-c", "B")):
        placement.add_worker(name, node, 0)
    for execution_id in ("e1", "e2"):  # one permit and a backlog of one
        placement.assign("w-c", execution_id)
    nodes = placement.by_node({"A": Need(100, 10), "B": Need(200, 20)}.__getitem__, lambda node: {"B": Need(50, 5)}.get(node, Need(0, 0)))
    assert [worker["name"] for worker in nodes["A"]["workers"]] == ["w-a", "w-b"]
    b_permits = next(w.permits for w in placement.workers() if w.name == "w-c")
    assert nodes["B"] == {
        "workers": [{
            "name": "w-c", "slots": b_permits, "running": b_permits,
            "tasks": ["e1", "e2"][:b_permits], "backlog": 2 - b_permits,
        }],
        "slots": b_permits, "slots_in_use": b_permits, "memory_capacity": 200, "pids_capacity": 20,
        "memory_reserved": 50, "pids_reserved": 5,
    }
    assert nodes["A"]["slots"] + nodes["B"]["slots"] == 3
    assert nodes["A"]["slots_in_use"] == 0 and nodes["A"]["memory_capacity"] == 100
