"""The replica's book, without Ray: bounded by count and by bytes, finished entries evicted first."""

from __future__ import annotations

import base64
import io
import zipfile

from faber_ray.config import ExecutorConfig
from faber_ray.http.book import Entry, SubmissionBook
from faber_ray.http.judge0 import parse_submission
from faber_ray.models import TaskResult, TaskStatus


def result(execution_id: str, stdout: str = "") -> TaskResult:
    return TaskResult(execution_id=execution_id, status=TaskStatus.SUCCESS, stdout=stdout)


def test_finished_entries_go_oldest_first_past_the_count() -> None:
    book = SubmissionBook(max_entries=2, max_bytes=10**9)
    entries = {name: Entry("alice") for name in "abc"}
    book.add("a", entries["a"])
    book.add("b", entries["b"])
    book.add("c", entries["c"])  # none has finished: none may go
    assert len(book) == 3
    book.settle(entries["b"], result("b"))
    assert len(book) == 2 and "b" not in book and "a" in book


def test_bytes_bound_the_book_whatever_the_count() -> None:
    book = SubmissionBook(max_entries=1000, max_bytes=3 * 1024**2)
    entries = [Entry("bob") for _ in range(4)]
    for number, entry in enumerate(entries):
        book.add(str(number), entry)
        book.settle(entry, result(str(number), "x" * 1024**2))
    assert book.bytes <= 3 * 1024**2
    assert "0" not in book and "3" in book
    assert book.bytes == sum(entry.size for name in ("1", "2", "3") if (entry := book.get(name)) is not None)


def test_a_settled_judge0_record_drops_its_additional_files() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.txt", b"y" * 100_000)
    zipped = base64.b64encode(buffer.getvalue()).decode()
    _, record = parse_submission(
        {"source_code": "print(1)", "language_id": 71, "additional_files": zipped}, ExecutorConfig(), base64_encoded=False
    )
    book = SubmissionBook()
    entry = Entry("carol", record)
    book.add("t", entry)
    before = book.bytes
    book.settle(entry, result("t"))
    assert entry.record is not None and entry.record.settled() is entry.record
    assert book.bytes < before - len(zipped) + 10_000
