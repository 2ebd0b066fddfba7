"""The Ray Data processor against ``execute`` on the same tasks, in the same run, on the same executor.

HumanEval's 164 canonical solutions (``bench_warm.humaneval_programs``) repeated
to 5,000 rows with distinct ids (dedupe off), written to a Parquet file, then:

* ``execute``: the 5,000 tasks in one call, the best a caller of the executor
  can do (one batch, every slot busy until the end); and, as the processor's
  actors call it, ``--concurrency`` calls at once of ``--batch-size`` tasks each;
* the processor: ``read_parquet -> processor -> write_parquet``, end to end
  (Ray Data's planning, reading and writing included), on the same warm executor.

Both sides run in warm mode with the executor's default config. The target is
at least 0.9x ``execute``'s throughput.

Run: ``python -m benchmarks.bench_data [--rows 5000] [--concurrency 2] [--batch-size 256]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import ray
from ray.data import DataContext

from benchmarks.bench_warm import humaneval_programs
from faber_ray import ExecutorConfig, Task, TaskStatus
from faber_ray.data import SandboxProcessorConfig, build_sandbox_processor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=2, help="actors in the processor's pool")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per batch")
    args = parser.parse_args()
    ray.init(address="local", log_to_driver=False)
    DataContext.get_current().enable_progress_bars = False

    programs = humaneval_programs()
    rows = [{"id": f"he-{n}", "command": "python3", "args": ["-c", programs[n % len(programs)]]}
            for n in range(args.rows)]
    fields: dict[str, object] = {"sandbox_mode": "warm"}
    if "dedupe" in ExecutorConfig.model_fields:
        fields["dedupe"] = False  # every row runs: a repeated program is still a run
    config = SandboxProcessorConfig(
        concurrency=args.concurrency, batch_size=args.batch_size, executor_config=ExecutorConfig.build(fields)
    )
    with tempfile.TemporaryDirectory() as directory, build_sandbox_processor(config) as processor:
        source, output = Path(directory) / "in.parquet", Path(directory) / "out.parquet"
        pq.write_table(pa.Table.from_pylist(rows), source)
        executor = processor.executor
        tasks = [Task(command=row["command"], args=row["args"]) for row in rows]
        ray.get(executor.execute.remote(tasks[:200]))  # workers up, containers and page cache warm

        print(f"HumanEval: {len(programs)} programs repeated to {len(rows)} rows, warm, default executor config")
        started = time.perf_counter()
        results = ray.get(executor.execute.remote(tasks))
        execute_time = time.perf_counter() - started
        assert all(result.status is TaskStatus.SUCCESS for result in results)
        execute_rate = len(tasks) / execute_time
        print(f"  {'execute, one call':<52} {len(tasks):>5} tasks in {execute_time:6.2f} s = {execute_rate:6.1f}/s")

        # The processor's actors call execute concurrently, a batch each: the same, from threads.
        chunks = [tasks[start:start + args.batch_size] for start in range(0, len(tasks), args.batch_size)]
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            batches = list(pool.map(lambda chunk: ray.get(executor.execute.remote(chunk)), chunks))
        calls_time = time.perf_counter() - started
        assert all(result.status is TaskStatus.SUCCESS for batch in batches for result in batch)
        label = f"execute, {args.concurrency} concurrent calls of {args.batch_size}"
        print(f"  {label:<52} {len(tasks):>5} tasks in {calls_time:6.2f} s = {len(tasks) / calls_time:6.1f}/s")

        before = processor.stats().total
        started = time.perf_counter()
        processor(ray.data.read_parquet(str(source))).write_parquet(str(output))
        processor_time = time.perf_counter() - started
        written = pq.read_table(output, columns=["id", "status"]).to_pylist()
        assert sorted(row["id"] for row in written) == sorted(row["id"] for row in rows)
        assert all(row["status"] == "SUCCESS" for row in written)
        ran = processor.stats().total - before
        processor_rate = len(rows) / processor_time
        label = f"processor, Parquet to Parquet ({args.concurrency} actors x {args.batch_size} rows)"
        print(f"  {label:<52} {len(rows):>5} rows  in {processor_time:6.2f} s = {processor_rate:6.1f}/s "
              f"({ran} runs)")
        print(f"  processor / execute = {processor_rate / execute_rate:.2f}x (target 0.9x)")


if __name__ == "__main__":
    main()
