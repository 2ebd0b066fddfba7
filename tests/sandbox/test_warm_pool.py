"""WarmPool, without an engine: which idle container serves the next task, and which must go."""

from __future__ import annotations

from dataclasses import dataclass, field

from faber_ray.sandbox.pool import WarmPool
from faber_ray.sandbox.spec import SandboxProfile

PY = SandboxProfile("faber-ray/python:3", 64, False)
GCC = SandboxProfile("faber-ray/gcc:12", 64, False)


@dataclass(eq=False)
class Box:
    profile: SandboxProfile
    uses: int = 0
    idle_since: float = field(default=0.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pool(capacity: int = 2, max_uses: int = 10, idle: float = 60.0) -> tuple[WarmPool[Box], Clock]:
    clock = Clock()
    return WarmPool(capacity, max_uses, idle, clock=clock), clock


def test_an_idle_container_of_the_profile_serves_the_next_task() -> None:
    warm, _ = pool()
    assert warm.take(PY) == (None, [])  # nothing idle: start one
    box = Box(PY)
    assert warm.give(box) is True and len(warm) == 1
    assert warm.take(GCC) == (None, [])  # another profile never gets it
    assert warm.take(PY) == (box, [])
    assert len(warm) == 2  # both busy now


def test_a_place_given_back_without_a_container_frees_it() -> None:
    warm, _ = pool(capacity=1)
    warm.take(PY)
    warm.give(None)  # the start failed, or the container went
    assert len(warm) == 0
    warm.take(PY)
    assert warm.give(Box(PY)) is True


def test_a_full_pool_keeps_no_more_and_evicts_the_idle_one_unused_longest() -> None:
    warm, clock = pool(capacity=2)
    a, b = Box(PY), Box(PY)
    warm.take(PY)
    warm.take(PY)
    assert warm.give(a) is True
    clock.now = 1
    assert warm.give(b) is True
    _, evicted = warm.take(GCC)  # a new profile, and no room: the idle container unused longest goes
    assert evicted == [a]
    assert warm.take(PY) == (b, [])
    assert warm.take(PY) == (None, [])  # a third task at once: it runs, but the pool keeps only two
    assert warm.give(Box(GCC)) is False  # three busy, room for two: the caller removes it
    assert warm.give(Box(PY)) is True
    assert len(warm) == 2


def test_used_up_and_long_idle_containers_are_recycled() -> None:
    warm, clock = pool(max_uses=2, idle=10)
    used_up = Box(PY, uses=2)
    warm.take(PY)
    assert warm.give(used_up) is False
    fresh = Box(PY)
    warm.take(PY)
    warm.give(fresh)
    clock.now = 11
    assert warm.expired() == [fresh] and len(warm) == 0
    assert warm.drain() == []
