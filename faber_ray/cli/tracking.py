"""Hand tasks to an executor knowing their execution ids; hold Ctrl-C while doing it.

``TaskExecutor.submit_with_ids`` gives each task's id beside its ref, so an
interrupted ``run`` can cancel exactly its task and ``batch --resume`` can find
exactly its lines' results.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

import ray

from faber_ray.models import Task

__all__ = ["interrupts_deferred", "pending_ids", "submit_tracked"]

def pending_ids(executor: Any) -> list[str]:
    """Execution ids the executor has not finished: running (in dispatch order), then queued."""
    view = ray.get(executor.pending.remote())
    return [*view["running"], *view["queued"]]


def submit_tracked(executor: Any, tasks: Sequence[Task]) -> tuple[list[ray.ObjectRef], list[str | None]]:
    """``(refs, execution ids)`` of ``tasks``, submitted in one batch."""
    ids, refs = ray.get(executor.submit_with_ids.remote(list(tasks)))
    return list(refs), list(ids)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise KeyboardInterrupt.

    Used around "submit, then record what was submitted", so an interrupt never
    falls between the two: a task is never handed over without its id written
    down. Outside the main thread (where signals cannot be handled) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
