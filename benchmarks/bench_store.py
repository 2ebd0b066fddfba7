"""What the result store costs, and what dedupe saves, in the same run.

* store: a warm ``echo`` batch through ``execute`` with ``result_store`` set, against the same batch
  on an executor without one (target: at least 0.95x);
* dedupe: HumanEval's 164 programs repeated to ``--rows`` tasks, with ``dedupe=True``: throughput and
  how many actually ran (164 is the ideal), against the same tasks with dedupe off.

Run: ``python -m benchmarks.bench_store [--echo 3000] [--rows 5000]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import ray

from benchmarks.bench_warm import humaneval_programs
from faber_ray import ExecutorConfig, Task, TaskExecutor, TaskStatus


def timed(executor: Any, tasks: list[Task]) -> float:
    started = time.perf_counter()
    results = ray.get(executor.execute.remote(tasks))
    elapsed = time.perf_counter() - started
    assert all(r.status is TaskStatus.SUCCESS for r in results), next(r for r in results if r.status is not TaskStatus.SUCCESS)
    return len(tasks) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--echo", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    ray.init(address="local", log_to_driver=False)
    echo = [Task(command="echo", args=[str(i)]) for i in range(args.echo)]
    with tempfile.TemporaryDirectory() as directory:
        plain = TaskExecutor.remote(ExecutorConfig(sandbox_mode="warm", queue_size=10_000))
        stored = TaskExecutor.remote(ExecutorConfig(
            sandbox_mode="warm", queue_size=10_000, result_store=str(Path(directory) / "results.db")
        ))
        for executor in (plain, stored):
            timed(executor, echo[:200])
        rates = {name: timed(executor, echo) for name, executor in (("no store", plain), ("store", stored))}
        print(f"warm echo x {args.echo}: without a store {rates['no store']:.0f} tasks/s, with one "
              f"{rates['store']:.0f} tasks/s; store / none = {rates['store'] / rates['no store']:.2f}x (target 0.95x)")
        for executor in (plain, stored):
            ray.get(executor.shutdown.remote())

    programs = humaneval_programs()
    tasks = [Task(command="python3", args=["-c", programs[n % len(programs)]]) for n in range(args.rows)]
    deduped = TaskExecutor.remote(ExecutorConfig(sandbox_mode="warm", queue_size=10_000, dedupe=True))
    undeduped = TaskExecutor.remote(ExecutorConfig(sandbox_mode="warm", queue_size=10_000))
    for executor in (deduped, undeduped):
        ray.get(executor.execute.remote([Task(command="true")] * 50))
    before = ray.get(deduped.stats.remote())
    on = timed(deduped, tasks)
    after = ray.get(deduped.stats.remote())
    joined = after.single_flight_joins - before.single_flight_joins
    hits = after.cache_hits - before.cache_hits
    runs = (after.total - before.total) - joined - hits
    off = timed(undeduped, tasks[: min(len(tasks), 1000)])
    print(f"HumanEval x {args.rows} rows ({len(programs)} distinct): dedupe on {on:.0f} tasks/s with {runs} runs "
          f"({joined} joined a run, {hits} served from a stored result); "
          f"dedupe off {off:.0f} tasks/s (first 1,000); on / off = {on / off:.1f}x")
    for executor in (deduped, undeduped):
        ray.get(executor.shutdown.remote())


if __name__ == "__main__":
    main()
