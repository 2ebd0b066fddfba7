"""The result store on its own: a committed batch is found again by a new instance, retention removes
old rows, a key finds the newest reusable result, and a path it cannot write is refused as a sentence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faber_ray.errors import ConfigurationError
from faber_ray.store import ResultStore, StoredRow

REUSABLE = ("SUCCESS", "FAILURE")


def test_results_outlive_the_instance_that_wrote_them(tmp_path: Path) -> None:
    path = str(tmp_path / "results.db")
    first = ResultStore(path, retention_seconds=3600)
    first.put_many([StoredRow("e1", "alice", None, "SUCCESS", b"one"), StoredRow("e2", None, "k", "ERROR", b"two")])
    first.close()
    second = ResultStore(path, retention_seconds=3600)
    assert second.get("e1") == ("alice", b"one")
    assert second.get("e2") == (None, b"two")
    assert second.get("nope") is None


def test_retention_removes_old_rows(tmp_path: Path) -> None:
    now = [1000.0]
    store = ResultStore(str(tmp_path / "r.db"), retention_seconds=60, clock=lambda: now[0])
    store.put_many([StoredRow("old", None, None, "SUCCESS", b"x")])
    now[0] += 61
    assert store.get("old") is None  # past retention: not served, even before it is deleted
    store.put_many([StoredRow("new", None, None, "SUCCESS", b"y")])
    assert store.prune() == 1 and store.count() == 1


def test_a_key_finds_the_newest_reusable_result_only(tmp_path: Path) -> None:
    now = [0.0]
    store = ResultStore(str(tmp_path / "r.db"), retention_seconds=3600, clock=lambda: now[0])
    for execution_id, status in (("a", "SUCCESS"), ("b", "FAILURE"), ("c", "ERROR")):
        now[0] += 1
        store.put_many([StoredRow(execution_id, None, "key", status, execution_id.encode())])
    assert store.find("key", REUSABLE) == ("b", b"b")  # the newest that says something about the program
    assert store.find("other", REUSABLE) is None


def test_a_read_only_place_is_refused_as_a_sentence(tmp_path: Path) -> None:
    # /proc takes no new files even from root; as another user, a folder without write permission.
    place = Path("/proc") if os.geteuid() == 0 else tmp_path
    if place == tmp_path:
        tmp_path.chmod(0o500)
    with pytest.raises(ConfigurationError, match="cannot be used") as caught:
        ResultStore(str(place / "results.db"), 60)
    assert "give a writable file path" in str(caught.value)


def test_a_missing_folder_a_read_only_file_and_a_corrupt_file_are_refused_as_sentences(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"result_store .* cannot be used: its folder .* does not exist"):
        ResultStore(str(tmp_path / "no" / "such" / "r.db"), 60)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigurationError, match="cannot be used") as caught:
        ResultStore(str(corrupt), 60)
    assert caught.value.field == "result_store"


def test_notes_are_kept_beside_the_results_and_pruned_with_them(tmp_path: Path) -> None:
    now = [0.0]
    store = ResultStore(str(tmp_path / "r.db"), retention_seconds=60, clock=lambda: now[0])
    store.put_notes([("e1", "alice", b"the submission as posted")])
    assert store.note("e1") == ("alice", b"the submission as posted") and store.note("e2") is None
    now[0] += 61
    assert store.note("e1") is None
    store.prune()
    assert store._db.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0  # noqa: SLF001
