"""Tasks and results that cross the central actors as bytes, unpickled only where they are used.

A ``Task`` or ``TaskResult`` is a pydantic model: unpickling one costs tens of
microseconds, more with a large stdout. On its way a task passes the executor,
the Scheduler and a worker, and a result the worker, the Scheduler, the
collector and the caller. If every hop rebuilt the model, the central actors
would spend most of their time on objects they only pass on, and that time is
the ceiling of the whole cluster. So the edge that makes an object pickles it
once (``Frozen.of``), every hop in between moves the bytes (a ``Frozen``
pickles as its bytes), and only the end that needs the object unpickles it:
the worker thaws the task it runs, and a caller's ``ray.get`` thaws its result
(``thawing`` makes a value that unpickles *as* the object).
"""

from __future__ import annotations

import pickle
from typing import Any, Generic, NamedTuple, TypeVar

from faber_ray.models import TaskResult

__all__ = ["Ended", "Frozen", "thawing"]

T = TypeVar("T")


class Frozen(Generic[T]):
    """An object kept as its pickle: it travels as bytes and is rebuilt only by ``thaw``."""

    __slots__ = ("blob",)

    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    @classmethod
    def of(cls, value: T) -> Frozen[T]:
        return cls(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def thaw(self) -> T:
        value: T = pickle.loads(self.blob)
        return value

    def __len__(self) -> int:
        return len(self.blob)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return Frozen, (self.blob,)


class _Thawing:
    """Pickles so that unpickling yields the frozen object itself: what a caller's ``ray.get`` gets."""

    __slots__ = ("blob",)

    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return pickle.loads, (self.blob,)


def thawing(frozen: Frozen[T]) -> T:
    """A stand-in for ``frozen``'s object, to return from an actor method: the caller receives the
    object, and this actor never rebuilt it. (Typed as the object, which is what the caller sees.)"""
    return _Thawing(frozen.blob)  # type: ignore[return-value]


class Ended(NamedTuple):
    """A finished task as the control plane sees it: the few fields it reads, and the result as bytes."""

    execution_id: str
    status: str
    node_id: str
    wall_time: float
    startup_time: float
    result: Frozen[TaskResult]

    @classmethod
    def of(cls, result: TaskResult) -> Ended:
        usage = result.resource_usage
        return cls(
            result.execution_id, result.status.value, result.node_id, usage.wall_time, usage.startup_time,
            Frozen.of(result),
        )
