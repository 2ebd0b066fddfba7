"""Hand tasks to an executor and learn their execution ids; hold Ctrl-C while doing it.

``TaskExecutor.submit`` returns one ref per task, not its execution id, yet
``cancel`` and ``get_result`` take ids. The ids are learnt from ``pending()``,
read before and after the submit: the new ids are this batch's, in its order,
because the Scheduler queues and dispatches a batch in order (running first,
then queued). Two things can blur the picture, and both are handled:

- a task that finishes between the submit and the second look is in neither
  ``pending()`` nor ready yet for a moment; the look is simply repeated, and a
  task whose ref is ready gives its id through its result;
- another client submitting in the same instant adds ids that are not ours;
  then there are more new ids than tasks, nothing is guessed, and those ids
  stay unknown (``None``) for the caller to say so.

(Left over is the case where both happen at once and cancel each other out; it
needs a task to finish within the milliseconds between the submit and the second
look, which no container does.)
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

import ray

from faber_ray.models import Task

__all__ = ["interrupts_deferred", "pending_ids", "submit_tracked"]

_LOOKS = 20
_LOOK_EVERY = 0.05


def pending_ids(executor: Any) -> list[str]:
    """Execution ids the executor has not finished: running (in dispatch order), then queued."""
    view = ray.get(executor.pending.remote())
    return [*view["running"], *view["queued"]]


def submit_tracked(executor: Any, tasks: Sequence[Task]) -> tuple[list[ray.ObjectRef], list[str | None]]:
    """``(refs, execution ids)`` of ``tasks``, submitted in one batch; an id is None where it cannot be told."""
    before = set(pending_ids(executor))
    refs: list[ray.ObjectRef] = ray.get(executor.submit.remote(list(tasks)))
    known: dict[ray.ObjectRef, str] = {}
    for _ in range(_LOOKS):
        after = pending_ids(executor)
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        known = {ref: result.execution_id for ref, result in zip(ready, ray.get(ready))}
        finished = set(known.values())
        new = [execution_id for execution_id in after if execution_id not in before and execution_id not in finished]
        waiting = [ref for ref in refs if ref not in known]  # in batch order
        if len(new) == len(waiting):
            known.update(zip(waiting, new))
            break
        if len(new) > len(waiting):
            break  # another client submitted at the same moment: its ids and ours look alike
        time.sleep(_LOOK_EVERY)  # one of ours is between pending() and its result: look again
    return refs, [known.get(ref) for ref in refs]


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
