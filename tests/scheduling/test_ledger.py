"""CapacityLedger: memory reservations against each node's sandbox capacity."""

from __future__ import annotations

from faber_ray.scheduling.ledger import CapacityLedger

MiB = 1024**2


def ledger() -> CapacityLedger:
    book = CapacityLedger()
    book.set_capacity("A", 300 * MiB)
    book.set_capacity("B", 500 * MiB)
    return book


def test_reserves_on_the_first_node_in_the_callers_order_that_fits() -> None:
    book = ledger()
    assert book.reserve("t1", 200 * MiB, ["A", "B"]) == "A"
    assert book.reserve("t2", 200 * MiB, ["A", "B"]) == "B"  # A has 100 MiB left
    assert book.reserve("t3", 200 * MiB, ["A", "B"]) == "B"
    assert book.reserve("t4", 200 * MiB, ["A", "B"]) is None
    assert book.reserved("A") == 200 * MiB and book.reserved("B") == 400 * MiB


def test_exact_fit_is_allowed() -> None:
    book = ledger()
    assert book.reserve("t1", 300 * MiB, ["A"]) == "A"
    assert not book.fits_now("A", 1)


def test_release_makes_room_again() -> None:
    book = ledger()
    book.reserve("t1", 300 * MiB, ["A"])
    assert book.reserve("t2", 1 * MiB, ["A"]) is None
    assert book.release("t1") == "A"
    assert book.release("t1") is None  # twice is harmless
    assert book.reserve("t2", 300 * MiB, ["A"]) == "A"


def test_unknown_node_never_fits() -> None:
    book = ledger()
    assert not book.fits_now("C", 1)
    assert book.reserve("t1", 1, ["C"]) is None
    assert book.capacity("C") == 0


def test_largest_capacity() -> None:
    assert CapacityLedger().largest_capacity() == 0
    book = ledger()
    assert book.largest_capacity() == 500 * MiB
    book.remove_node("B")
    assert book.largest_capacity() == 300 * MiB


def test_remove_node_drops_its_reservations() -> None:
    book = ledger()
    book.reserve("t1", 100 * MiB, ["A"])
    book.reserve("t2", 100 * MiB, ["B"])
    book.remove_node("A")
    assert book.snapshot() == {"B": {"capacity": 500 * MiB, "reserved": 100 * MiB}}
    book.set_capacity("A", 300 * MiB)  # the node comes back empty
    assert book.reserved("A") == 0


def test_snapshot() -> None:
    book = ledger()
    book.reserve("t1", 10 * MiB, ["B"])
    assert book.snapshot() == {
        "A": {"capacity": 300 * MiB, "reserved": 0},
        "B": {"capacity": 500 * MiB, "reserved": 10 * MiB},
    }


def test_reserve_many_stops_at_the_first_that_fits_nowhere() -> None:
    ledger = CapacityLedger()
    ledger.set_capacity("A", 100)
    placed = ledger.reserve_many([("t1", 60, ["A"]), ("t2", 60, ["A"]), ("t3", 10, ["A"])])
    assert placed == ["A", None, None]  # t3 would fit, but may not overtake t2
    assert ledger.reserved("A") == 60
