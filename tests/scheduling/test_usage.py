"""UsageBook: the Monitor's recent reports and per-node aggregates."""

from __future__ import annotations

from faber_ray.scheduling.usage import UsageBook, UsageReport


def report(node: str, worker: str, cpu: float, peak: int, running: int, at: float) -> UsageReport:
    return UsageReport(
        node_id=node, worker=worker, execution_id=f"{worker}-{at}", status="SUCCESS",
        wall_time=1.0, cpu_time=cpu, peak_memory=peak, running_on_worker=running, at=at,
    )


def test_aggregates_per_node() -> None:
    book = UsageBook()
    book.record(report("A", "w0", cpu=1.5, peak=100, running=2, at=1.0))
    book.record(report("A", "w1", cpu=0.5, peak=300, running=1, at=2.0))
    node = book.record(report("A", "w0", cpu=1.0, peak=50, running=0, at=3.0))
    book.record(report("B", "w2", cpu=9.0, peak=1, running=4, at=4.0))
    assert node is book.nodes["A"]
    snapshot = book.snapshot()
    assert snapshot["A"] == {
        "tasks_finished": 3,
        "cpu_seconds": 3.0,
        "peak_memory": 300,
        "last_peak_memory": 50,
        "running": 1,  # latest per worker: w0 -> 0, w1 -> 1
        "last_report_at": 3.0,
    }
    assert snapshot["B"]["tasks_finished"] == 1 and snapshot["B"]["running"] == 4


def test_window_keeps_the_latest_reports() -> None:
    book = UsageBook(window=2)
    for at in (1.0, 2.0, 3.0):
        book.record(report("A", "w0", cpu=0, peak=0, running=0, at=at))
    assert [r["at"] for r in book.recent()] == [2.0, 3.0]
    assert [r["at"] for r in book.recent(limit=1)] == [3.0]
    assert book.snapshot()["A"]["tasks_finished"] == 3  # aggregates are not windowed


def test_forget_node() -> None:
    book = UsageBook()
    book.record(report("A", "w0", cpu=1, peak=1, running=1, at=1.0))
    book.record(report("B", "w1", cpu=1, peak=1, running=1, at=1.0))
    book.forget_node("A")
    book.forget_node("A")
    assert set(book.snapshot()) == {"B"}
