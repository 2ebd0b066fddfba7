"""Placement: slots per worker, a cluster-wide cap, least-loaded node first."""

from __future__ import annotations

import pytest

from faber_ray.scheduling.placement import Placement


def two_nodes(cap: int = 10, slots: int = 2) -> Placement:
    placement = Placement(cap)
    placement.add_worker("a0", "A", slots)
    placement.add_worker("a1", "A", slots)
    placement.add_worker("b0", "B", slots)
    return placement


def test_spreads_to_the_least_loaded_node_then_least_busy_worker() -> None:
    placement = two_nodes()
    assert placement.preferred_nodes() == ["A", "B"]  # tie: by node id
    placement.assign(placement.worker_for("A"), "t1")  # type: ignore[arg-type]
    assert placement.worker_of("t1") == "a0"
    assert placement.preferred_nodes() == ["B", "A"]
    placement.assign(placement.worker_for("B"), "t2")  # type: ignore[arg-type]
    # Both nodes run one; A's next task goes to its idle worker.
    assert placement.worker_for("A") == "a1"
    assert placement.running_on("A") == 1 and placement.running_on("B") == 1


def test_cluster_wide_cap_stops_placement() -> None:
    placement = two_nodes(cap=3)
    for execution_id in ("t1", "t2", "t3"):
        node = placement.preferred_nodes()[0]
        placement.assign(placement.worker_for(node), execution_id)  # type: ignore[arg-type]
    assert placement.running == 3
    assert placement.preferred_nodes() == []  # slots are free, but the cap is reached
    placement.release("t2")
    assert placement.preferred_nodes() != []


def test_full_node_is_not_preferred_and_full_worker_refuses() -> None:
    placement = Placement(10)
    placement.add_worker("a0", "A", 1)
    placement.add_worker("b0", "B", 1)
    placement.assign("a0", "t1")
    assert placement.preferred_nodes() == ["B"]
    assert placement.worker_for("A") is None
    with pytest.raises(RuntimeError):
        placement.assign("a0", "t2")
    assert placement.worker_of("t2") is None


def test_release_returns_the_worker_and_frees_the_slot() -> None:
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
    assert placement.remove_worker("a0") == {"t1", "t2"}
    assert placement.running == 1
    assert placement.worker_of("t1") is None
    assert placement.release("t1") is None  # a late release of a lost task is harmless
    assert not placement.has_worker("a0")
    assert placement.workers_on("A") == ["a1"]
    assert placement.remove_worker("a0") == set()


def test_nodes_follow_workers() -> None:
    placement = two_nodes()
    assert placement.nodes() == {"A", "B"}
    placement.remove_worker("b0")
    assert placement.nodes() == {"A"}
    assert "B" not in placement.preferred_nodes()
    assert sorted(w.name for w in placement.workers()) == ["a0", "a1"]


def test_plan_spreads_a_round_over_nodes_within_slots_and_the_cap() -> None:
    placement = Placement(max_concurrent=5)
    placement.add_worker("a1", "A", 2)
    placement.add_worker("b1", "B", 2)
    placement.add_worker("c1", "C", 2)
    placement.assign("a1", "busy")
    plans = placement.plan(10)
    assert len(plans) == 4  # five at once, one already running
    assert [plan[0] for plan in plans] == ["B", "C", "A", "B"]
    assert plans[0] == ["B", "C", "A"]  # fallbacks, least loaded first


def test_plan_is_empty_when_every_slot_is_taken() -> None:
    placement = Placement(max_concurrent=8)
    placement.add_worker("a1", "A", 1)
    placement.assign("a1", "x")
    assert placement.plan(3) == []
