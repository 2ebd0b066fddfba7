"""The control plane's cost per task, its ceiling, latency one task at a time, and fair share under a flood.

- **cpu**: a warm ``echo`` batch through ``execute``; the CPU time (user + system,
  from ``/proc/<pid>/stat``) each actor process of the executor spent on it,
  divided by the tasks. Central actors (executor, Scheduler, Monitor,
  collector) are what every task of the cluster passes through: 1 s over the
  busiest one's CPU per task is the ceiling of the whole cluster. Baseline in
  the same process: the same tasks through ``SandboxRunner`` on threads, no Ray.
- **latency**: one ``echo`` at a time through ``execute``: p50 and p99, against
  one ``SandboxRunner.run`` at a time, no Ray.
- **fairness**: a late user's 10 tasks while another user's flood fills the
  queue, against the same 10 on an idle executor (p50 of submit-to-result).

``--nodes N`` runs it on a ``ray.cluster_utils.Cluster`` of N nodes on this
machine (every node has a worker), so the central cost can be compared as the
cluster grows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray

from faber_ray import ExecutorConfig, Task, TaskExecutor, TaskStatus
from faber_ray.actors.options import NAMESPACE
from faber_ray.sandbox.runner import SandboxRunner

CENTRAL = ("TaskExecutor", "Scheduler", "Monitor", "ResultCollector")
TICKS = 100.0  # os.sysconf("SC_CLK_TCK") on Linux


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def actor_pids(executor: Any, tag: str) -> dict[str, list[int]]:
    """Class name -> pids of this executor's actors, each asked for its own pid (no state API, which
    needs a dashboard that a ``cluster_utils`` cluster does not start)."""
    workers = [w["name"] for node in ray.get(executor.cluster.remote())["nodes"].values() for w in node["workers"]]
    names = {"TaskExecutor": [tag], "Scheduler": [f"scheduler-{tag}"], "Monitor": [f"monitor-{tag}"],
             "ResultCollector": [f"collector-{tag}"], "SandboxWorker": workers}
    return {
        cls: [ray.get(ray.get_actor(name, namespace=NAMESPACE).__ray_call__.remote(lambda _: os.getpid()))
              for name in actors]
        for cls, actors in names.items()
    }


def run_batch(executor: Any, tasks: list[Task]) -> float:
    started = time.perf_counter()
    results = ray.get(executor.execute.remote(tasks))
    elapsed = time.perf_counter() - started
    bad = [r for r in results if r.status is not TaskStatus.SUCCESS]
    assert not bad, bad[0]
    return elapsed


def cpu_section(executor: Any, tag: str, count: int, slots: int) -> None:
    tasks = [Task(command="echo", args=[str(i)]) for i in range(count)]
    pids = actor_pids(executor, tag)
    before = {cls: sum(cpu_seconds(p) for p in ps) for cls, ps in pids.items()}
    elapsed = run_batch(executor, tasks)
    after = {cls: sum(cpu_seconds(p) for p in ps) for cls, ps in pids.items()}
    per_task = {cls: (after[cls] - before[cls]) / count * 1e6 for cls in pids}
    print(f"warm echo batch: {count} tasks in {elapsed:.2f} s = {count / elapsed:.0f} tasks/s ({slots} slots)")
    for cls in sorted(per_task, key=lambda c: (c not in CENTRAL, c)):
        workers = f" ({len(pids[cls])} processes, summed)" if len(pids[cls]) > 1 else ""
        print(f"  {cls:<16} {per_task[cls]:8.0f} µs CPU per task{workers}")
    central = {cls: per_task.get(cls, 0.0) for cls in CENTRAL}
    busiest = max(central, key=lambda cls: central[cls])
    print(f"  central actors together: {sum(central.values()):.0f} µs per task; busiest {busiest} "
          f"{central[busiest]:.0f} µs -> ceiling {1e6 / max(central[busiest], 1e-9):,.0f} tasks/s")
    runner = SandboxRunner(ExecutorConfig(sandbox_mode="warm"), capacity=slots)
    try:
        with ThreadPoolExecutor(slots) as pool:
            list(pool.map(runner.run, tasks[: min(count, 500)]))  # warm containers
            started = time.perf_counter()
            results = list(pool.map(runner.run, tasks))
            baseline = time.perf_counter() - started
            cpu = runner_cpu(runner, pool, tasks[: min(count, 2000)])
    finally:
        runner.close()
    assert all(r.status is TaskStatus.SUCCESS for r in results)
    print(f"  baseline, SandboxRunner on {slots} threads, no Ray: {count / baseline:.0f} tasks/s; "
          f"executor / baseline = {baseline / elapsed:.2f}")
    print(f"  SandboxRunner alone: {cpu[True]:.0f} µs CPU per task of a checked task (as the worker runs it), "
          f"{cpu[False]:.0f} µs checking it again ({cpu[True] / cpu[False]:.2f}x)")


def runner_cpu(runner: SandboxRunner, pool: ThreadPoolExecutor, tasks: list[Task]) -> dict[bool, float]:
    """This process's CPU per task of ``SandboxRunner.run``, with the task already checked (``checked=True``,
    as a worker runs the executor's copy) and checked again, in alternating blocks (the machine drifts)."""
    spent = {True: 0.0, False: 0.0}
    block = max(1, len(tasks) // 4)
    for checked in (False, True) * 4:
        before = os.times()
        list(pool.map(lambda task: runner.run(task, checked=checked), tasks[:block]))
        after = os.times()
        spent[checked] += (after.user - before.user) + (after.system - before.system)
    return {checked: seconds / (block * 4) * 1e6 for checked, seconds in spent.items()}


def latency_section(executor: Any, count: int) -> None:
    echo = [Task(command="echo", args=["hi"])]
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        ray.get(executor.execute.remote(echo))
        samples.append(time.perf_counter() - started)
    runner = SandboxRunner(ExecutorConfig(sandbox_mode="warm"), capacity=1)
    alone = []
    try:
        runner.run(echo[0])
        for _ in range(count):
            started = time.perf_counter()
            runner.run(echo[0])
            alone.append(time.perf_counter() - started)
    finally:
        runner.close()
    p50, p99 = statistics.median(samples), statistics.quantiles(samples, n=100)[98]
    print(f"one echo at a time through execute ({count}): p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; "
          f"SandboxRunner alone p50 {statistics.median(alone) * 1000:.1f} ms; "
          f"ratio {p50 / statistics.median(alone):.1f}x")


def late_user_p50(executor: Any, flood: int) -> float:
    refs = ray.get(executor.submit.remote([Task(command="sleep", args=["0.05"])] * flood, "flooder")) if flood else []
    if flood:
        time.sleep(1.0)  # the flood fills the slots and the queue
    starts = time.perf_counter()
    late = ray.get(executor.submit.remote([Task(command="echo", args=[str(i)]) for i in range(10)], "late"))
    waits = []
    pending = list(late)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        waits.append(time.perf_counter() - starts)
    if refs:  # the rest of the flood is not measured: cancel it
        ids = ray.get(executor.pending.remote("flooder"))
        for execution_id in ids["queued"] + ids["running"]:
            executor.cancel.remote(execution_id)
        ray.get(refs)
    return statistics.median(waits)


def fairness_section(executor: Any, flood: int) -> None:
    idle = late_user_p50(executor, 0)
    busy = late_user_p50(executor, flood)
    print(f"a late user's 10 echo tasks, p50 submit-to-result: idle {idle * 1000:.0f} ms; while another user "
          f"floods {flood} tasks {busy * 1000:.0f} ms; ratio {busy / idle:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=5000, help="echo tasks in the CPU batch")
    parser.add_argument("--slots", type=int, default=8, help="max_concurrent_tasks")
    parser.add_argument("--nodes", type=int, default=1, help="nodes of a ray.cluster_utils.Cluster (1: a local Ray)")
    parser.add_argument("--latency", type=int, default=300, help="single executes for the latency figures")
    parser.add_argument("--flood", type=int, default=3000, help="the flooding user's tasks")
    parser.add_argument("--sections", default="cpu,latency,fairness")
    args = parser.parse_args()
    cluster = None
    if args.nodes > 1:
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        for _ in range(args.nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
    else:
        ray.init(address="local", log_to_driver=False)
    tag = "bench-cp"
    executor = TaskExecutor.options(name=tag).remote(  # type: ignore[attr-defined]
        ExecutorConfig(sandbox_mode="warm", max_concurrent_tasks=args.slots, queue_size=20_000)
    )
    try:
        workers = ray.get(executor.cluster.remote())["nodes"]
        print(f"{len(workers)} node(s) with workers, {args.slots} slots")
        run_batch(executor, [Task(command="echo", args=["warm"])] * 200)
        sections = args.sections.split(",")
        if "cpu" in sections:
            cpu_section(executor, tag, args.tasks, args.slots)
        if "latency" in sections:
            latency_section(executor, args.latency)
        if "fairness" in sections:
            fairness_section(executor, args.flood)
    finally:
        ray.get(executor.shutdown.remote())
        ray.shutdown()
        if cluster is not None:
            cluster.shutdown()


if __name__ == "__main__":
    main()
