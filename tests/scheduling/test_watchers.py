"""The watcher caps, without Ray: per task, per user, and places given back."""

from __future__ import annotations

import pytest

from faber_ray.errors import QueueFullError
from faber_ray.scheduling.watchers import WatcherCaps


def test_a_task_takes_at_most_its_cap_of_watchers_whoever_they_are() -> None:
    caps = WatcherCaps(per_task=2, per_user=10)
    caps.open("t", "alice")
    caps.open("t", "bob")
    with pytest.raises(QueueFullError, match="task t already has 2 watchers"):
        caps.open("t", "carol")
    caps.close("t", "bob")
    caps.open("t", "carol")
    assert len(caps) == 2


def test_a_user_takes_at_most_their_cap_and_others_are_not_affected() -> None:
    caps = WatcherCaps(per_task=10, per_user=2)
    caps.open("a", "bob")
    caps.open("b", "bob")
    with pytest.raises(QueueFullError, match="user bob already has 2 watchers"):
        caps.check("c", "bob")
    caps.open("c", "alice")
    caps.open("c", None)
    caps.close("a", "bob")
    caps.open("c", "bob")
    assert len(caps) == 4
