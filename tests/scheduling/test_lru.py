"""LRUCache: keeps the most recently stored or read entries."""

from __future__ import annotations

import pytest

from faber_ray.models import StepResult, TaskResult, TaskStatus
from faber_ray.scheduling.lru import LRUCache, result_bytes


def test_evicts_the_least_recently_stored() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert cache.get("a") is None
    assert cache.get("b") == 2 and cache.get("c") == 3
    assert len(cache) == 2 and cache.evictions == 1


def test_a_read_refreshes_an_entry() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert "a" in cache and "b" not in cache


def test_overwrite_refreshes_without_growing() -> None:
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    assert len(cache) == 2 and cache.evictions == 0
    cache.put("c", 3)
    assert cache.get("a") == 10 and cache.get("b") is None


def test_missing_key_is_none_and_counts_nothing() -> None:
    cache: LRUCache[str, int] = LRUCache(1)
    assert cache.get("x") is None
    assert len(cache) == 0 and cache.evictions == 0


@pytest.mark.parametrize("capacity", [0, -3])
def test_capacity_must_be_positive(capacity: int) -> None:
    with pytest.raises(ValueError):
        LRUCache(capacity)


def test_a_byte_budget_evicts_the_least_recent_until_it_fits() -> None:
    cache: LRUCache[str, bytes] = LRUCache(100, max_bytes=10, sizer=len)
    cache.put("a", b"x" * 4)
    cache.put("b", b"x" * 4)
    assert cache.bytes == 8 and cache.evictions == 0
    cache.put("c", b"x" * 4)  # 12 > 10: "a" goes
    assert "a" not in cache and cache.bytes == 8 and cache.evictions == 1
    cache.put("b", b"x")  # replacing an entry counts its new size only
    assert cache.bytes == 5
    cache.put("huge", b"x" * 50)  # the newest entry stays, alone, even over the budget
    assert list(cache._data) == ["huge"] and cache.bytes == 50


def test_result_bytes_counts_output_steps_and_files() -> None:
    small = TaskResult(execution_id="e", status=TaskStatus.SUCCESS)
    big = TaskResult(
        execution_id="e", status=TaskStatus.SUCCESS, stdout="x" * 1000, files={"out": b"y" * 500},
        steps=[StepResult(status=TaskStatus.SUCCESS, stdout="z" * 2000)],
    )
    assert result_bytes(big) - result_bytes(small) >= 3500
