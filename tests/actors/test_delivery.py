"""ResultDelivery: results are stored in batches before they are handed on, and never held back.

Pure asyncio with a fake collector: what is tested is the order and the batching.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ray.exceptions import RayError

from faber_ray.actors.delivery import ResultDelivery
from faber_ray.frozen import Ended
from faber_ray.models import TaskResult, TaskStatus


class FakeCollector:
    """Records each ``add_many`` batch; ``fail`` makes it behave as an unreachable actor."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.fail = fail
        self.add_many = self

    def remote(self, batch: list[tuple[Ended, str | None]]) -> Any:
        async def store() -> None:
            await asyncio.sleep(0.01)
            if self.fail:
                raise RayError("the collector died")
            self.batches.append([result.execution_id for result, _owner, _key in batch])

        return store()


def result(execution_id: str) -> Ended:
    return Ended.of(TaskResult(execution_id=execution_id, status=TaskStatus.SUCCESS))


def run(collector: FakeCollector, waves: list[list[str]], busy: bool = False) -> list[tuple[str, int]]:
    """Add each wave of results (letting the loop turn between waves); return (id, batches stored when handed on)."""
    handed: list[tuple[str, int]] = []

    async def main() -> None:
        tasks: set[asyncio.Task[Any]] = set()

        def spawn(coroutine: Any, name: str) -> asyncio.Task[Any]:
            task = asyncio.get_running_loop().create_task(coroutine, name=name)
            tasks.add(task)
            return task

        delivery = ResultDelivery(
            collector, spawn, lambda r, _now, _problem: handed.append((r.execution_id, len(collector.batches))), busy=lambda: busy
        )
        for wave in waves:
            for execution_id in wave:
                delivery.add(result(execution_id))
            await asyncio.sleep(0.005)
        await delivery.drain()

    asyncio.run(main())
    return handed


def test_each_result_is_stored_before_it_is_handed_on_and_batches_gather() -> None:
    collector = FakeCollector()
    handed = run(collector, [["a", "b", "c"], ["d", "e"]])
    assert [execution_id for execution_id, _ in handed] == ["a", "b", "c", "d", "e"]
    stored = [execution_id for batch in collector.batches for execution_id in batch]
    assert stored == ["a", "b", "c", "d", "e"]
    assert len(collector.batches) < 5  # fewer calls than results
    for execution_id, batches_then in handed:
        assert any(execution_id in batch for batch in collector.batches[:batches_then])


def test_an_unreachable_collector_never_holds_a_result_back() -> None:
    handed = run(FakeCollector(fail=True), [["a", "b"]])
    assert [execution_id for execution_id, _ in handed] == ["a", "b"]


def test_under_load_results_gather_for_longer_into_fewer_calls() -> None:
    """Waves 5 ms apart: alone they go in several batches; while other tasks run, in one."""
    waves = [["a"], ["b"], ["c"], ["d"]]
    idle, busy = FakeCollector(), FakeCollector()
    run(idle, waves)
    run(busy, waves, busy=True)
    assert len(busy.batches) == 1 < len(idle.batches)
    assert [execution_id for batch in busy.batches for execution_id in batch] == ["a", "b", "c", "d"]
