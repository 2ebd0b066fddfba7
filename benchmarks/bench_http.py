"""The HTTP API's cost: requests/s and latency through Serve, against ``TaskExecutor.execute`` in the same run.

One local Ray, one executor (warm sandboxes, 8 slots, a queue that never
refuses here) and the Serve app in front of it on loopback. At 1, 8 and 32
concurrent clients (threads), each level runs the same number of ``echo``
tasks four ways, one task per request or call, each client waiting for its
answer before it sends the next:

* native: ``POST /v1/tasks?wait=true`` with httpx (one connection per client);
* its baseline: ``ray.get(executor.execute.remote([task]))`` from this driver;
* Judge0: ``judge0.run`` with the official SDK, which submits with
  ``POST /submissions/batch`` and polls every 0.1 s (its own polling);
* its baseline: ``execute`` of the very Task the Judge0 translation makes
  (``bash main.sh`` after writing ``main.sh``).

It prints requests/s, p50 and p99 latency, and the ratios HTTP / execute
(throughput below 1 and latency above 1 are the HTTP overhead).
Run: python -m benchmarks.bench_http [--requests 160] [--levels 1 8 32]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import judge0
import ray

from faber_ray import ExecutorConfig, Task, TaskExecutor, TaskStatus
from faber_ray.http import judge0 as translation
from faber_ray.http.serving import deploy, undeploy
from faber_ray.http.auth import TokenTable, generate_token


def measure(clients: int, requests: int, make_call: Callable[[], Callable[[], None]]) -> tuple[float, list[float]]:
    """``requests`` calls spread over ``clients`` threads (each with its own ``make_call()``): (wall s, latencies)."""
    latencies: list[float] = []
    failures: list[BaseException] = []
    shares = [requests // clients + (1 if index < requests % clients else 0) for index in range(clients)]

    def client(share: int) -> None:
        try:
            call = make_call()
            for _ in range(share):
                started = time.perf_counter()
                call()
                latencies.append(time.perf_counter() - started)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=client, args=(share,)) for share in shares if share]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - started, latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(label: str, wall: float, latencies: list[float]) -> tuple[float, float, float]:
    rate, p50, p99 = len(latencies) / wall, statistics.median(latencies), percentile(latencies, 0.99)
    print(f"  {label:<34} {rate:7.1f} req/s   p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms")
    return rate, p50, p99


def ratio(name: str, ours: tuple[float, float, float], base: tuple[float, float, float]) -> None:
    print(f"  {name}: throughput {ours[0] / base[0]:.2f}x, p50 {ours[1] / base[1]:.2f}x, p99 {ours[2] / base[2]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=160, help="tasks per way and level")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--port", type=int, default=8077)
    args = parser.parse_args()

    ray.init(address="local", namespace="faber-ray", log_to_driver=False)
    config = ExecutorConfig(max_concurrent_tasks=8, queue_size=1000, sandbox_mode="warm")
    executor = TaskExecutor.options(name="bench-http").remote(config)
    token = generate_token()
    deploy("bench-http", TokenTable.from_tokens([token]), port=args.port)
    url = f"http://127.0.0.1:{args.port}"
    echo = Task(command="echo", args=["hi"])
    bash_task, _ = translation.parse_submission(
        {"source_code": "echo hi", "language_id": 46}, config, base64_encoded=False
    )
    ray.get(executor.execute.remote([echo] * 8))  # workers up, warm containers made

    def native() -> Callable[[], None]:
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300)
        body = {"command": "echo", "args": ["hi"]}

        def call() -> None:
            answer = client.post("/v1/tasks", params={"wait": "true"}, json=body)
            assert answer.status_code == 200 and answer.json()["results"][0]["stdout"] == "hi\n", answer.text
        return call

    def direct(task: Task) -> Callable[[], Callable[[], None]]:
        def make() -> Callable[[], None]:
            def call() -> None:
                result: Any = ray.get(executor.execute.remote([task]))[0]
                assert result.status is TaskStatus.SUCCESS and result.stdout.endswith("hi\n"), result
            return call
        return make

    def sdk() -> Callable[[], None]:
        client = judge0.Client(endpoint=f"{url}/judge0", headers={"X-Auth-Token": token})

        def call() -> None:
            done = judge0.run(client=client, source_code="echo hi", language=judge0.BASH)
            assert done.status == judge0.Status.ACCEPTED and done.stdout == "hi\n", done
        return call

    try:
        for clients in args.levels:
            print(f"{clients} concurrent client(s), {args.requests} echo tasks each way:")
            base = report("TaskExecutor.execute (echo)", *measure(clients, args.requests, direct(echo)))
            http = report("POST /v1/tasks?wait=true", *measure(clients, args.requests, native))
            ratio("native / execute", http, base)
            base_j0 = report("TaskExecutor.execute (bash main.sh)", *measure(clients, args.requests, direct(bash_task)))
            j0 = report("judge0.run (SDK polling)", *measure(clients, args.requests, sdk))
            ratio("Judge0 / execute", j0, base_j0)
    finally:
        undeploy(stop_serve=True)
        ray.get(executor.shutdown.remote())


if __name__ == "__main__":
    main()
