"""Throughput of a batch through the Ray executor, against the raw docker SDK on a thread pool.

Both sides run the same N short tasks with the same concurrency on this
machine; the ratio is faber-ray's wall time over the baseline's. Run:
python benchmarks/bench_executor.py --tasks 200 --concurrency 8
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import docker
import ray

from benchmarks.common import raw_docker_run, ratio_line
from faber_ray import ExecutorConfig, Task, TaskExecutor, TaskStatus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    argv = ["python3", "-c", "print(sum(range(1000)))"]

    # Ray and the executor start first, so the baseline pays for Ray's own
    # background processes on this machine just as faber-ray does.
    ray.init(log_to_driver=False)
    executor = TaskExecutor.remote(ExecutorConfig(max_concurrent_tasks=args.concurrency))
    ray.get(executor.execute.remote([Task(command="true")]))  # workers up, image warm

    client = docker.from_env()
    started = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        outputs = list(pool.map(lambda _: raw_docker_run(client, argv), range(args.tasks)))
    baseline = time.perf_counter() - started
    assert all(out.strip() == b"499500" for out in outputs)
    print(f"  docker SDK, {args.concurrency} threads: {args.tasks} tasks in {baseline:.2f} s "
          f"({args.tasks / baseline:.1f} tasks/s)")

    started = time.perf_counter()
    results = ray.get(executor.execute.remote([Task(command=argv[0], args=argv[1:]) for _ in range(args.tasks)]))
    ours = time.perf_counter() - started
    assert all(r.status is TaskStatus.SUCCESS and r.stdout.strip() == "499500" for r in results)
    print(f"  faber-ray executor, {args.concurrency} slots: {args.tasks} tasks in {ours:.2f} s "
          f"({args.tasks / ours:.1f} tasks/s)")
    ratio_line(f"{args.tasks} tasks at concurrency {args.concurrency}", ours, baseline)
    ray.get(executor.shutdown.remote())


if __name__ == "__main__":
    main()
