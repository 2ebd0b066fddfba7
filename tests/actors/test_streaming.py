"""Live output through the executor: stream, watch, and the batch options the HTTP layer needs."""

from __future__ import annotations

from typing import Any

import pytest
import ray
from cli_support import poll

from faber_ray import ExecutionError, OutputChunk, QueueFullError, Step, Task, TaskResult, TaskStatus
from faber_ray.actors.options import NAMESPACE
from faber_ray.scheduling.watchers import MAX_WATCHERS_PER_TASK


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


def _worker_of(executor: Any, execution_id: str) -> Any:
    def holder() -> str | None:
        view = ray.get(executor.cluster.remote())
        return next(
            (worker["name"] for node in view["nodes"].values() for worker in node["workers"]
             if execution_id in worker["tasks"]),
            None,
        )

    return ray.get_actor(poll(holder, f"{execution_id} to run"), namespace=NAMESPACE)


def test_watchers_hold_no_thread_of_the_worker_and_never_delay_a_cancel(executor: Any) -> None:
    """A hundred followers of one running task (more than the worker's old thread pool of 64) are all
    served at once, and a cancel still goes through while they wait."""
    ids, refs = ray.get(executor.submit_with_ids.remote([Task(command="sh", args=["-c", "echo up; sleep 300"])]))
    first = executor.watch.remote(ids[0])
    assert ray.get(next(first)).data == b"up\n"  # it runs and has written (a fresh container takes a while)
    worker = _worker_of(executor, ids[0])
    streams = [worker.follow.remote(ids[0]) for _ in range(100)]
    poll(lambda: ray.get(worker.watchers.remote()) == 101, "a hundred watchers more to follow at once")
    assert ray.get(executor.cancel.remote(ids[0])) is True
    assert ray.get(refs[0]).status.value == "CANCELLED"
    for stream in streams:  # each got the output so far and ended with the run
        assert b"".join(ray.get(ref).data for ref in stream) == b"up\n"
    ray.cancel(first)


def test_a_watcher_whose_consumer_is_gone_is_released_at_once(executor: Any) -> None:
    ids, refs = ray.get(executor.submit_with_ids.remote([Task(command="sh", args=["-c", "echo up; sleep 300"])]))
    worker = _worker_of(executor, ids[0])
    streams = [executor.watch.remote(ids[0]) for _ in range(5)]
    for stream in streams:
        assert ray.get(next(stream)).data == b"up\n"
    poll(lambda: ray.get(worker.watchers.remote()) == 5, "five watchers")
    for stream in streams:
        ray.cancel(stream)  # what the HTTP replica does when its client disconnects
    poll(lambda: ray.get(worker.watchers.remote()) == 0, "the cancelled watchers to be released")
    assert ray.get(executor.pending.remote())["running"] == ids  # the task itself runs on
    ray.get(executor.cancel.remote(ids[0]))
    assert ray.get(refs[0]).status.value == "CANCELLED"


def test_watchers_are_capped_per_task(executor: Any) -> None:
    ids, refs = ray.get(executor.submit_with_ids.remote([Task(command="sh", args=["-c", "echo up; sleep 300"])]))
    streams = [executor.watch.remote(ids[0]) for _ in range(MAX_WATCHERS_PER_TASK)]
    for stream in streams:
        assert ray.get(next(stream)).data == b"up\n"
    with pytest.raises(QueueFullError, match="watchers"):
        ray.get(next(executor.watch.remote(ids[0])))
    for stream in streams:
        ray.cancel(stream)
    ray.get(executor.cancel.remote(ids[0]))
    assert ray.get(refs[0]).status.value == "CANCELLED"
