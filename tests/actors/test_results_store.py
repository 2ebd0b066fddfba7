"""Results that survive the executor, and dedupe: identical tasks share one run.

Against the real 3-node cluster and real sandboxes (warm mode: what is stored and shared does not
depend on the sandbox mode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import ray
from actor_support import shut_down

from faber_ray import ConfigurationError, ExecutorConfig, Task, TaskExecutor, TaskStatus


@pytest.fixture(scope="module")
def sandbox_mode() -> str:
    return "warm"


def test_results_are_found_by_a_new_executor_on_the_same_store(make_executor: Any, tmp_path: Path, engine: Any) -> None:
    store = str(tmp_path / "results.db")
    first = TaskExecutor.remote(ExecutorConfig(sandbox_mode="warm", result_store=store, max_concurrent_tasks=2))
    ids, refs = ray.get(first.submit_with_ids.remote([Task(command="echo", args=[str(i)]) for i in range(5)], "alice"))
    assert [r.stdout for r in ray.get(refs)] == [f"{i}\n" for i in range(5)]
    shut_down(first, engine)
    second = make_executor(result_store=store, max_concurrent_tasks=2)
    for number, execution_id in enumerate(ids):
        found = ray.get(second.get_result.remote(execution_id, "alice"))
        assert found is not None and found.stdout == f"{number}\n"
        assert ray.get(second.get_result.remote(execution_id, "bob")) is None  # still alice's alone
    assert ray.get(second.cache_info.remote())["stored"] == 5


def test_a_store_it_cannot_use_is_refused_as_a_sentence() -> None:
    executor = TaskExecutor.remote(ExecutorConfig(sandbox_mode="warm", result_store="/proc/results.db"))
    try:
        with pytest.raises(ConfigurationError, match="result_store '/proc/results.db' cannot be used"):
            ray.get(executor.execute.remote([Task(command="true")]))
    finally:
        ray.kill(executor, no_restart=True)


def test_two_hundred_identical_tasks_run_once(make_executor: Any) -> None:
    executor = make_executor(dedupe=True, max_concurrent_tasks=4, queue_size=500)
    before = ray.get(executor.stats.remote())
    task = Task(command="sh", args=["-c", "sleep 0.5; echo $RANDOM"])
    results = ray.get(executor.execute.remote([task] * 200))
    assert {r.status for r in results} == {TaskStatus.SUCCESS}
    assert len({r.stdout for r in results}) == 1, "they did not share one run"
    assert len({r.execution_id for r in results}) == 200
    ran = [r for r in results if not r.cached]
    assert len(ran) == 1 and all(r.cached_from == ran[0].execution_id for r in results if r.cached)
    after = ray.get(executor.stats.remote())
    assert after.single_flight_joins - before.single_flight_joins == 199
    # Later, an identical task gets the stored result without running.
    again = ray.get(executor.execute.remote([task]))[0]
    assert again.cached and again.stdout == ran[0].stdout and again.cached_from == ran[0].execution_id
    assert ray.get(executor.stats.remote()).cache_hits - after.cache_hits == 1


def test_a_different_env_limit_or_image_is_a_different_task(make_executor: Any) -> None:
    executor = make_executor(dedupe=True, max_concurrent_tasks=4)
    base = {"command": "sh", "args": ["-c", "echo $RANDOM"]}
    variants = [
        base, {**base, "env": {"X": "1"}}, {**base, "limits": {"timeout": 7}},
        {**base, "image": "faber-ray/python:3"},  # the default image, by name: the same ID, so the same task
    ]
    results = ray.get(executor.execute.remote(variants))
    assert [r.cached for r in results] == [False, False, False, True]
    assert results[3].cached_from == results[0].execution_id


def test_errors_and_cancellations_are_never_shared_and_dedupe_off_shares_nothing(make_executor: Any) -> None:
    executor = make_executor(dedupe=True, max_concurrent_tasks=2)
    slow = Task(command="sh", args=["-c", "sleep 30; echo $RANDOM"])
    ids, refs = ray.get(executor.submit_with_ids.remote([slow, slow]))
    ray.get(executor.cancel.remote(ids[0]))  # the one that runs; the one that joined it runs for itself
    first = ray.get(refs[0])
    assert first.status is TaskStatus.CANCELLED
    ray.get(executor.cancel.remote(ids[1]))
    second = ray.get(refs[1])
    assert second.status is TaskStatus.CANCELLED and not second.cached
    # A task that opts out runs for itself even next to its twin.
    quick = {"command": "sh", "args": ["-c", "echo $RANDOM"]}
    shared, alone = ray.get(executor.execute.remote([quick, {**quick, "dedupe": False}]))
    assert not shared.cached and not alone.cached
    off = make_executor(max_concurrent_tasks=2)
    results = ray.get(off.execute.remote([quick] * 3))
    assert not any(r.cached for r in results)
