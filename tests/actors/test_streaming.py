"""Live output through the executor: stream, watch, and the batch options the HTTP layer needs."""

from __future__ import annotations

from typing import Any

import pytest
import ray

from faber_ray import ExecutionError, OutputChunk, QueueFullError, Step, Task, TaskResult, TaskStatus


@pytest.fixture(scope="module")
def executor(make_executor: Any) -> Any:
    return make_executor(max_concurrent_tasks=2, queue_size=5)


def test_a_chunk_arrives_while_the_task_still_runs(executor: Any) -> None:
    """The task writes, then sleeps until killed: the chunk can only have come before its end."""
    stream = executor.stream.remote(Task(command="sh", args=["-c", "echo early; exec sleep infinity"]))
    first = ray.get(next(stream))
    assert isinstance(first, OutputChunk)
    assert (first.stream, first.data, first.step) == ("stdout", b"early\n", None)
    (running,) = ray.get(executor.pending.remote())["running"]
    assert ray.get(executor.cancel.remote(running))
    rest = [ray.get(ref) for ref in stream]
    assert isinstance(rest[-1], TaskResult) and rest[-1].status is TaskStatus.CANCELLED
    assert rest[-1].stdout == "early\n"


def test_steps_stream_with_their_numbers_and_both_streams(executor: Any) -> None:
    task = Task(steps=[Step(command="sh", args=["-c", "echo zero"]), Step(command="sh", args=["-c", "echo one >&2"])])
    items = [ray.get(ref) for ref in executor.stream.remote(task)]
    chunks = [(item.step, item.stream, item.data) for item in items if isinstance(item, OutputChunk)]
    assert chunks == [(0, "stdout", b"zero\n"), (1, "stderr", b"one\n")]
    assert isinstance(items[-1], TaskResult) and items[-1].status is TaskStatus.SUCCESS


def test_watching_late_gives_the_result_and_an_unknown_id_is_refused(executor: Any) -> None:
    ids, refs = ray.get(executor.submit_with_ids.remote([Task(command="echo", args=["done"])], "alice"))
    finished = ray.get(refs[0])
    watched = [ray.get(ref) for ref in executor.watch.remote(ids[0])]
    assert watched == [finished]  # a late watcher: no chunks, the result (whose stdout has them)
    with pytest.raises(ExecutionError, match="no execution"):
        [ray.get(ref) for ref in executor.watch.remote("no-such-execution")]


def test_a_batch_that_does_not_fit_the_queue_now_is_refused_when_asked_not_to_wait(executor: Any) -> None:
    with pytest.raises(QueueFullError, match="queue is full"):
        ray.get(executor.submit_with_ids.remote([Task(command="true")] * 20, None, False))
    ids, refs = ray.get(executor.submit_with_ids.remote([Task(command="true")] * 3, "bob", False))
    assert len(ids) == 3 and all(r.status is TaskStatus.SUCCESS for r in ray.get(refs))
