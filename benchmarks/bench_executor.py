"""Throughput of a batch through the Ray executor, against the raw docker SDK on a thread pool.

Both sides run the same N short tasks with the same concurrency on this
machine, each in a container of its own: the executor in ``fresh`` mode (the
default here; ``--mode warm`` for the other). It prints the ratio of wall
times and of throughputs (faber-ray's tasks/s over the SDK's: above 1 is
faster). Run: python -m benchmarks.bench_executor --tasks 200 --concurrency 8
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
    parser.add_argument("--mode", choices=["fresh", "warm"], default="fresh")
    args = parser.parse_args()
    argv = ["python3", "-c", "print(sum(range(1000)))"]

    # Ray and the executor start first, so the baseline pays for Ray's own
    # background processes on this machine just as faber-ray does.
    ray.init(log_to_driver=False)
    executor = TaskExecutor.remote(ExecutorConfig(max_concurrent_tasks=args.concurrency, sandbox_mode=args.mode))
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
    assert all(r.sandbox == args.mode for r in results)
    print(f"  faber-ray executor ({args.mode}), {args.concurrency} slots: {args.tasks} tasks in {ours:.2f} s "
          f"({args.tasks / ours:.1f} tasks/s)")
    ratio_line(f"{args.tasks} tasks at concurrency {args.concurrency}", ours, baseline)
    print(f"throughput: faber-ray ({args.mode}) / raw docker SDK = {baseline / ours:.2f}x")
    ray.get(executor.shutdown.remote())


if __name__ == "__main__":
    main()
