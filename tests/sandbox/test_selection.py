"""What ``collect`` asks the agent for, decided from its listing alone: pure logic, no engine.

The listing comes from inside the sandbox, so it is treated as a claim: a path
that is not a normalised relative path (``..``, ``/etc/x``, ``a//b``, ``.``)
is refused with a reason and never fetched, whatever pattern matched it.
"""

from __future__ import annotations

import pytest

from faber_ray.sandbox.collection import select
from faber_ray.sandbox.agent.protocol import Entry, EntryKind


def listed(*paths: bytes) -> list[Entry]:
    return [Entry(EntryKind.FILE, 3, 1, path) for path in paths]


def chosen(entries: list[Entry], patterns: list[str]) -> tuple[list[str], dict[str, str]]:
    selection = select(entries, patterns, truncated=False, max_files=100, max_bytes=1 << 20)
    return [path for path, _, _ in selection.wanted], selection.errors


@pytest.mark.parametrize(
    "forged",
    [b"..", b"../../etc/cron.d/evil", b"a/../b", b"/etc/x", b"a//b", b"a/", b"", b".", b"./a", b"a/./b", b"a/.."],
)
def test_a_listed_path_that_is_not_normalised_is_refused_and_never_fetched(forged: bytes) -> None:
    wanted, errors = chosen(listed(b"good.txt", forged), ["**"])
    assert wanted == ["good.txt"]
    name = forged.decode()
    assert "not a normalised relative path" in errors[name]


def test_a_forged_path_is_refused_even_when_a_plain_pattern_names_it() -> None:
    wanted, errors = chosen(listed(b"../x.txt", b"/abs.txt"), ["../x.txt", "/abs.txt", "*.txt"])
    assert wanted == []
    assert set(errors) >= {"../x.txt", "/abs.txt"}
    assert all("not a normalised relative path" in errors[name] for name in ("../x.txt", "/abs.txt"))


def test_good_paths_are_still_chosen() -> None:
    wanted, errors = chosen(listed(b"a/b/c.txt", b"top.txt", b".hidden"), ["**"])
    assert (wanted, errors) == ([".hidden", "a/b/c.txt", "top.txt"], {})
