"""FairCache: one owner's flood of results evicts only its own, never another's fair share."""

from __future__ import annotations

import pytest

from faber_ray.scheduling.lru import FairCache


def sized(capacity: int, max_bytes: int) -> FairCache[str, bytes]:
    return FairCache(capacity, max_bytes=max_bytes, sizer=len)


def test_a_flood_evicts_only_the_flooders_results() -> None:
    cache: FairCache[str, int] = FairCache(100)
    for n in range(3):
        cache.put(f"a{n}", n, "alice")
    for n in range(1_000):
        cache.put(f"b{n}", n, "bob")
    assert all(cache.get(f"a{n}") == n for n in range(3))
    assert len(cache) == 100 and cache.usage() == {"alice": (3, 0), "bob": (97, 0)}
    assert [f"b{n}" in cache for n in (902, 903, 999)] == [False, True, True]  # bob keeps his newest
    assert cache.evictions == 903


def test_the_byte_budget_is_shared_fairly() -> None:
    cache = sized(1_000, max_bytes=1_000)
    cache.put("a-small", b"x" * 100, "alice")
    for n in range(50):
        cache.put(f"b{n}", b"y" * 100, "bob")  # bob's results fill the bytes, not the count
    assert cache.get("a-small") == b"x" * 100
    assert cache.usage() == {"alice": (1, 100), "bob": (9, 900)}
    assert cache.bytes == 1_000 and cache.owner_of("b49") == "bob" and "b40" not in cache


def test_the_largest_share_is_the_larger_of_count_and_bytes() -> None:
    cache = sized(10, max_bytes=1_000)
    cache.put("a-big", b"x" * 700, "alice")  # 1 entry, but 70% of the bytes
    for n in range(5):
        cache.put(f"b{n}", b"y", "bob")  # 50% of the entries, few bytes
    cache.put("b-big", b"y" * 300, "bob")  # over the bytes: alice's 70% beats bob's 60% of the entries
    assert "a-big" not in cache and len(cache) == 6


def test_a_single_owner_behaves_as_an_lru() -> None:
    cache: FairCache[str, int] = FairCache(2)
    cache.put("a", 1, "alice")
    cache.put("b", 2, "alice")
    cache.put("c", 3, "alice")
    assert cache.get("a") is None and cache.get("b") == 2 and cache.get("c") == 3
    assert len(cache) == 2 and cache.evictions == 1


def test_a_read_refreshes_an_entry() -> None:
    cache: FairCache[str, int] = FairCache(2)
    cache.put("a", 1, "alice")
    cache.put("b", 2, "alice")
    assert cache.get("a") == 1
    cache.put("c", 3, "alice")
    assert "a" in cache and "b" not in cache


def test_equal_shares_evict_the_least_recently_used_of_all() -> None:
    cache: FairCache[str, int] = FairCache(2)
    cache.put("a", 1, "alice")
    cache.put("b", 2, "bob")
    assert cache.get("a") == 1  # bob's is now the oldest
    cache.put("c", 3, "carol")
    assert "a" in cache and "b" not in cache and "c" in cache


def test_a_re_put_replaces_the_size_and_may_change_owner() -> None:
    cache = sized(10, max_bytes=1_000)
    cache.put("k", b"x" * 500, "alice")
    cache.put("k", b"x" * 20, "alice")
    assert len(cache) == 1 and cache.bytes == 20 and cache.usage() == {"alice": (1, 20)}
    cache.put("k", b"x" * 30, "bob")
    assert cache.owner_of("k") == "bob" and cache.usage() == {"bob": (1, 30)} and cache.bytes == 30
    assert cache.evictions == 0


def test_the_newest_stays_even_alone_over_the_byte_budget() -> None:
    cache = sized(10, max_bytes=100)
    cache.put("a", b"x" * 50, "alice")
    cache.put("b", b"y" * 30, "bob")
    cache.put("huge", b"z" * 500, "alice")
    assert list(cache.usage()) == ["alice"] and "huge" in cache and len(cache) == 1
    assert cache.bytes == 500 and cache.evictions == 2
    cache.put("c", b"c", "carol")  # the next put evicts the huge one, whoever puts it
    assert "huge" not in cache and cache.get("c") == b"c" and cache.bytes == 1


def test_missing_key_is_none_and_owned_by_nobody() -> None:
    cache: FairCache[str, int] = FairCache(1)
    assert cache.get("x") is None and cache.owner_of("x") is None and "x" not in cache
    assert len(cache) == 0 and cache.evictions == 0 and cache.usage() == {}


def test_without_a_byte_budget_nothing_is_sized() -> None:
    def boom(value: int) -> int:
        raise AssertionError("sized without a byte budget")

    cache: FairCache[str, int] = FairCache(2, sizer=boom)
    cache.put("a", 1, "alice")
    assert cache.bytes == 0 and cache.max_bytes is None and cache.capacity == 2


@pytest.mark.parametrize(("capacity", "max_bytes"), [(0, None), (-3, None), (5, 0)])
def test_budgets_must_be_positive(capacity: int, max_bytes: int | None) -> None:
    with pytest.raises(ValueError):
        FairCache(capacity, max_bytes=max_bytes)
