"""CapacityLedger: reservations of memory and host pids against each node's sandbox capacity."""

from __future__ import annotations

from faber_ray.scheduling.ledger import CapacityLedger, Need

MiB = 1024**2
PIDS = 10_000


def ledger() -> CapacityLedger:
    book = CapacityLedger()
    book.set_capacity("A", Need(300 * MiB, PIDS))
    book.set_capacity("B", Need(500 * MiB, PIDS))
    return book


def mem(memory: int, pids: int = 68) -> Need:
    return Need(memory, pids)


def test_reserves_on_the_first_node_in_the_callers_order_that_fits() -> None:
    book = ledger()
    assert book.reserve("t1", mem(200 * MiB), ["A", "B"]) == "A"
    assert book.reserve("t2", mem(200 * MiB), ["A", "B"]) == "B"  # A has 100 MiB left
    assert book.reserve("t3", mem(200 * MiB), ["A", "B"]) == "B"
    assert book.reserve("t4", mem(200 * MiB), ["A", "B"]) is None
    assert book.reserved("A") == Need(200 * MiB, 68) and book.reserved("B") == Need(400 * MiB, 136)


def test_exact_fit_is_allowed() -> None:
    book = ledger()
    assert book.reserve("t1", Need(300 * MiB, PIDS), ["A"]) == "A"
    assert not book.fits_now("A", Need(1, 0)) and not book.fits_now("A", Need(0, 1))


def test_release_makes_room_again() -> None:
    book = ledger()
    book.reserve("t1", mem(300 * MiB), ["A"])
    assert book.reserve("t2", mem(1 * MiB), ["A"]) is None
    assert book.release("t1") == "A"
    assert book.release("t1") is None  # twice is harmless
    assert book.reserved("A") == Need(0, 0)
    assert book.reserve("t2", mem(300 * MiB), ["A"]) == "A"


def test_pids_are_reserved_like_memory() -> None:
    """Ten tasks at the 4,096-process ceiling would need 41,000 pids: a node's budget admits fewer."""
    book = ledger()
    placed = [book.reserve(f"t{n}", Need(1 * MiB, 4096 + 4), ["A"]) for n in range(10)]
    assert placed == ["A", "A"] + [None] * 8  # 2 x 4,100 fit in 10,000; a third does not
    assert book.reserved("A") == Need(2 * MiB, 8200)
    book.release("t0")
    assert book.reserve("t9", Need(1 * MiB, 4100), ["A"]) == "A"


def test_a_need_beyond_the_whole_budget_is_clipped_to_it_and_runs_alone() -> None:
    """A gVisor sandbox at the ceiling wants 32,832 host tasks: bounded by the node's budget instead."""
    book = ledger()
    assert book.reserve("big", Need(1 * MiB, 32_832), ["A"]) == "A"
    assert book.reserved("A") == Need(1 * MiB, PIDS)
    assert book.reserve("small", Need(1 * MiB, 1), ["A"]) is None
    book.release("big")
    assert book.reserve("small", Need(1 * MiB, 1), ["A"]) == "A"


def test_unknown_node_never_fits() -> None:
    book = ledger()
    assert not book.fits_now("C", Need(1, 0))
    assert book.reserve("t1", Need(1, 0), ["C"]) is None
    assert book.capacity("C") == Need(0, 0)


def test_largest_memory() -> None:
    assert CapacityLedger().largest_memory() == 0
    book = ledger()
    assert book.largest_memory() == 500 * MiB
    book.remove_node("B")
    assert book.largest_memory() == 300 * MiB


def test_remove_node_drops_its_reservations() -> None:
    book = ledger()
    book.reserve("t1", mem(100 * MiB), ["A"])
    book.reserve("t2", mem(100 * MiB), ["B"])
    book.remove_node("A")
    assert book.snapshot() == {
        "B": {"capacity": 500 * MiB, "reserved": 100 * MiB, "pids_capacity": PIDS, "pids_reserved": 68}
    }
    book.set_capacity("A", Need(300 * MiB, PIDS))  # the node comes back empty
    assert book.reserved("A") == Need(0, 0)
    assert book.release("t1") is None


def test_reserve_many_stops_at_the_first_that_fits_nowhere() -> None:
    book = CapacityLedger()
    book.set_capacity("A", Need(100, 100))
    placed = book.reserve_many([("t1", Need(60, 1), ["A"]), ("t2", Need(60, 1), ["A"]), ("t3", Need(10, 1), ["A"])])
    assert placed == ["A", None, None]  # t3 would fit, but may not overtake t2
    assert book.reserved("A") == Need(60, 1)
