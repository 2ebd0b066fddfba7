"""TaskExecutor on a real 3-node cluster: the public contract, the queue, the cap, memory admission.

Two module executors: ``executor`` (cap 8, two workers per node, a queue of
50, a result cache of 4) and ``tight`` (node_sandbox_memory 300 MiB, for
memory admission, no Monitor). The issue's own example builds a third.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import pytest
import ray
from actor_support import (
    cluster_containers, interval, max_overlap, shut_down, sleeper, sleeping, stats, timed, vanished_image, view,
    wait_until, worker_names,
)
from ray.util.state import list_actors

from faber_ray import (
    ExecutorConfig,
    ExecutorError,
    ResourceLimitError,
    ResourceLimits,
    SecurityPolicyError,
    Task,
    TaskExecutor,
    TaskResult,
    TaskStatus,
    TaskValidationError,
)
from faber_ray import languages
from faber_ray.actors import NAMESPACE
from faber_ray.judging import Checker, TestCase, Verdict
from faber_ray.sandbox.labels import LABEL, LABEL_NODE_ID, LABEL_OWNER, LABEL_OWNER_PROCESS, owner_process

CAP = 8
POOL = 2
QUEUE = 50
CACHE = 4
EXECUTOR_NAME = "tests-executor"


@pytest.fixture(scope="module")
def executor(make_executor: Any) -> Any:
    # Named, so a second driver can find it.
    return make_executor(
        name=EXECUTOR_NAME, max_concurrent_tasks=CAP, worker_pool_size=POOL, queue_size=QUEUE, result_cache_size=CACHE
    )


@pytest.fixture(scope="module")
def tight(make_executor: Any) -> Any:
    """Every node offers sandboxes 300 MiB and 300 host pids; tasks default to 100 MiB of memory and 10 MiB of disk.

    Without a Monitor (admission is the Scheduler's own ledger either way).
    """
    return make_executor(
        max_concurrent_tasks=6,
        worker_pool_size=1,
        enable_monitoring=False,
        node_sandbox_memory="300MiB",
        node_sandbox_pids=300,
        result_cache_bytes="3MiB",
        default_memory_limit="100MiB",
        default_disk="10MiB",
    )


def echo(word: str) -> Task:
    return Task(command="echo", args=[word])


def run_container(engine: docker.DockerClient, labels: dict[str, str]) -> str:
    """A long-running container that looks like a sandbox (for the reaping test)."""
    created = engine.api.create_container(
        ExecutorConfig().default_image, command=["sleep", "300"], labels={LABEL: "1", **labels}
    )
    engine.api.start(created["Id"])
    return str(created["Id"])


def dead_process() -> str:
    """The ``<pid>:<start>`` label of a process that has exited, as a Ray cluster that is gone leaves it."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    label = owner_process(child.pid)
    child.kill()
    child.wait()
    return label


def exists(engine: docker.DockerClient, container_id: str) -> bool:
    try:
        engine.api.inspect_container(container_id)
    except docker.errors.NotFound:
        return False
    return True


# ---------------------------------------------------------------------------
# The issue's example, start-up reaping, pinning and shutdown
# ---------------------------------------------------------------------------


def test_issue_example_reaps_orphans_at_start_and_shuts_down_clean(
    executor: Any, engine: docker.DockerClient, head_node_id: str
) -> None:
    live_owner = next(iter(worker_names(executor)))
    orphan = run_container(engine, {LABEL_NODE_ID: head_node_id, LABEL_OWNER: "worker-deadbeef-0-gone00"})
    alive = run_container(engine, {LABEL_NODE_ID: head_node_id, LABEL_OWNER: live_owner})
    foreign = run_container(engine, {LABEL_NODE_ID: "another-ray-cluster", LABEL_OWNER: "worker-x-0",
                                     LABEL_OWNER_PROCESS: owner_process()})  # a live cluster's: its maker runs
    gone = run_container(engine, {LABEL_NODE_ID: "a-cluster-that-is-gone", LABEL_OWNER: "worker-y-0",
                                  LABEL_OWNER_PROCESS: dead_process()})
    executor2 = None
    try:
        executor2 = TaskExecutor.remote(ExecutorConfig(max_concurrent_tasks=8))
        results = ray.get(executor2.execute.remote([Task(command="echo", args=["hello", "world"])]))

        assert [(r.status, r.stdout, r.exit_code, r.attempts) for r in results] == [
            (TaskStatus.SUCCESS, "hello world\n", 0, 1)
        ]
        # Its workers reaped, at start, the container of a worker that no longer
        # exists, and left the live worker's and another cluster's alone.
        assert not exists(engine, orphan) and not exists(engine, gone)
        assert exists(engine, alive) and exists(engine, foreign)

        names = set(worker_names(executor2))
        assert len(names) == 3 * ExecutorConfig().worker_pool_size
        engine.api.remove_container(alive, force=True)

        # shutdown() with eight tasks running and four queued: every ref resolves
        # CANCELLED, no container is left, the workers are gone.
        sleepers = [sleeper() for _ in range(12)]
        refs = ray.get(executor2.submit.remote(sleepers))
        wait_until(lambda: len(sleeping(sleepers)) == 8, "eight running sleepers")
        there = len([box for box in cluster_containers(engine) if box["Labels"].get(LABEL_OWNER) in names])
        assert there >= 8
        removed = ray.get(executor2.shutdown.remote(), timeout=120)
        assert removed == there  # every container the workers had, running or idle
        results = ray.get(refs, timeout=60)
        assert [r.status for r in results] == [TaskStatus.CANCELLED] * 12
        assert [box for box in cluster_containers(engine) if box["Labels"].get(LABEL_OWNER) in names] == []
        ray.kill(executor2, no_restart=True)
        executor2 = None
        wait_until(
            lambda: not {a.name for a in list_actors(filters=[("state", "=", "ALIVE")], limit=10_000)} & names,
            "the workers to stop after shutdown()",
        )
    finally:
        if executor2 is not None:  # the test failed half-way
            shut_down(executor2, engine)
        for box in (orphan, alive, foreign, gone):
            if exists(engine, box):
                engine.api.remove_container(box, force=True)


def test_control_actors_pinned_to_the_driver_node_and_named_in_namespace(executor: Any, head_node_id: str) -> None:
    alive = list_actors(filters=[("state", "=", "ALIVE")], detail=True, limit=10_000)
    by_name = {actor.name: actor for actor in alive if actor.name}
    # A named executor other than the shared one suffixes its actors with its name.
    for name in (EXECUTOR_NAME, *(f"{role}-{EXECUTOR_NAME}" for role in ("scheduler", "monitor", "collector"))):
        actor = by_name[name]
        assert actor.node_id == head_node_id, name
        assert actor.ray_namespace == NAMESPACE, name
        assert not actor.required_resources.get("CPU"), name
    workers = worker_names(executor)
    assert len(workers) == 3 * POOL
    assert len(set(workers.values())) == 3
    for name, node_id in workers.items():
        actor = by_name[name]
        assert actor.class_name == "SandboxWorker"
        assert actor.node_id == node_id
        assert actor.ray_namespace == NAMESPACE
        assert not actor.required_resources.get("CPU")  # num_cpus=0
    assert ray.get_actor(EXECUTOR_NAME, namespace=NAMESPACE)._actor_id == executor._actor_id


# ---------------------------------------------------------------------------
# execute / submit / get_result / cancel / stats / cluster
# ---------------------------------------------------------------------------


def test_execute_returns_results_in_input_order_from_tasks_and_dicts(executor: Any, base_node_ids: set[str]) -> None:
    tasks: list[Any] = [echo(f"w{i}") for i in range(10)]
    tasks.insert(3, {"command": "sh", "args": ["-c", "echo oops >&2; exit 3"]})
    tasks.insert(7, {"command": "echo", "args": ["from-a-dict"]})
    results = ray.get(executor.execute.remote(tasks))

    assert len(results) == 12
    expected = [f"w{i}\n" for i in range(10)]
    expected.insert(3, "")
    expected.insert(7, "from-a-dict\n")
    assert [r.stdout for r in results] == expected
    failed = results[3]
    assert (failed.status, failed.exit_code, failed.stderr, failed.attempts) == (TaskStatus.FAILURE, 3, "oops\n", 1)
    assert all(r.status is TaskStatus.SUCCESS and r.attempts == 1 for i, r in enumerate(results) if i != 3)
    assert len({r.execution_id for r in results}) == 12
    assert {r.node_id for r in results} <= base_node_ids


def test_get_result_is_an_lru_of_finished_results(executor: Any) -> None:
    assert ray.get(executor.get_result.remote("no-such-execution")) is None
    first = [ray.get(executor.execute.remote([echo(f"lru{i}")]))[0] for i in range(CACHE)]
    for result in first:
        assert ray.get(executor.get_result.remote(result.execution_id)) == result
    # Reading refreshes: first[0] is now the most recent, first[1] the least.
    assert ray.get(executor.get_result.remote(first[0].execution_id)) == first[0]
    newer = ray.get(executor.execute.remote([echo("lru-new")]))[0]
    assert ray.get(executor.get_result.remote(first[1].execution_id)) is None
    assert ray.get(executor.get_result.remote(first[0].execution_id)) == first[0]
    assert ray.get(executor.get_result.remote(newer.execution_id)) == newer
    info = ray.get(executor.cache_info.remote())
    assert info["size"] == CACHE and info["capacity"] == CACHE and info["evictions"] >= 1


def test_the_result_cache_is_bounded_by_bytes_too(tight: Any) -> None:
    """Four results of a million bytes each against a 3 MiB cache: the oldest goes, whatever the count."""
    loud = Task(command="python3", args=["-c", "print('x' * 1_000_000)"])
    results = [ray.get(tight.execute.remote([loud]))[0] for _ in range(4)]
    assert all(len(result.stdout) == 1_000_001 for result in results)
    info = ray.get(tight.cache_info.remote())
    assert info["bytes"] <= info["max_bytes"] == 3 * 1024**2 and info["evictions"] >= 1
    assert ray.get(tight.get_result.remote(results[0].execution_id)) is None
    assert ray.get(tight.get_result.remote(results[-1].execution_id)) == results[-1]


def test_submit_returns_at_once_and_cancel_stops_running_queued_and_waiting_tasks(
    executor: Any, engine: docker.DockerClient
) -> None:
    before = stats(executor)
    count = CAP + QUEUE + 2  # eight run, fifty wait in the queue, two wait for room in it
    sleepers = [sleeper() for _ in range(count)]
    refs = ray.get(executor.submit.remote(sleepers))
    assert len(refs) == count
    ready, _ = ray.wait(refs, num_returns=1, timeout=0)
    assert ready == []  # submit did not wait for any of them

    wait_until(lambda: len(sleeping(sleepers)) == CAP, "eight running sleepers")
    pending = ray.get(executor.pending.remote())
    assert len(pending["running"]) == CAP
    assert len(pending["queued"]) == count - CAP
    now = stats(executor)
    assert (now.running, now.queued) == (CAP, count - CAP)
    assert len(sleeping(sleepers)) == CAP  # sixty accepted, eight running: the cap holds

    # A running task is killed and comes back CANCELLED.
    victim = pending["running"][0]
    assert ray.get(executor.cancel.remote(victim)) is True
    ready, refs_left = ray.wait(refs, num_returns=1, timeout=60)
    assert len(ready) == 1
    killed = ray.get(ready[0])
    assert (killed.execution_id, killed.status, killed.attempts) == (victim, TaskStatus.CANCELLED, 1)
    assert "while it was running" in (killed.error or "")
    assert victim not in ray.get(executor.pending.remote())["running"]

    # A queued one and one still waiting for room in the queue never start. (The
    # freed slot took the queue's head, so wait for that before choosing.)
    wait_until(lambda: len(sleeping(sleepers)) == CAP, "the freed slot to be taken")
    pending = ray.get(executor.pending.remote())
    assert len(pending["queued"]) == QUEUE + 1  # the last one still waits for room
    queued, waiting = pending["queued"][-2], pending["queued"][-1]
    for execution_id in (queued, waiting):
        assert ray.get(executor.cancel.remote(execution_id)) is True
    ready, refs_left = ray.wait(refs_left, num_returns=2, timeout=60)
    never_started = {r.execution_id: r for r in ray.get(ready)}
    assert set(never_started) == {queued, waiting}
    for result in never_started.values():
        assert (result.status, result.attempts, result.exit_code, result.node_id) == (TaskStatus.CANCELLED, 0, None, "")
        assert "while it was queued" in (result.error or "")

    assert ray.get(executor.cancel.remote(victim)) is False  # already finished
    assert ray.get(executor.cancel.remote("no-such-execution")) is False

    # Cancel the rest, queued first so nothing new starts.
    pending = ray.get(executor.pending.remote())
    for execution_id in pending["queued"] + pending["running"]:
        assert ray.get(executor.cancel.remote(execution_id)) is True
    rest = ray.get(refs_left, timeout=120)
    assert {r.status for r in rest} == {TaskStatus.CANCELLED}
    assert sleeping(sleepers) == []  # every process of every cancelled task is gone before it answers
    if ray.get(executor.config.remote()).sandbox_mode == "fresh":
        assert cluster_containers(engine) == []  # a cancelled run removes its container before it answers
    after = stats(executor)
    assert after.by_status.get("CANCELLED", 0) - before.by_status.get("CANCELLED", 0) == count
    assert (after.running, after.queued) == (0, 0)


def test_stats_count_every_status(executor: Any, engine: docker.DockerClient) -> None:
    gone = vanished_image(executor, engine)
    before = stats(executor)
    tasks = [
        echo("a"),
        echo("b"),
        Task(command="false"),
        Task.model_validate({"command": "sleep", "args": ["30"], "limits": {"timeout": 0.5}}),
        Task.model_validate({"command": "true", "image": gone, "limits": {"disk": "24m"}}),  # no warm container fits
    ]
    results = ray.get(executor.execute.remote(tasks))
    assert [r.status for r in results] == [
        TaskStatus.SUCCESS,
        TaskStatus.SUCCESS,
        TaskStatus.FAILURE,
        TaskStatus.TIMEOUT,
        TaskStatus.ERROR,
    ]
    after = stats(executor)
    delta = {
        status: after.by_status.get(status, 0) - before.by_status.get(status, 0)
        for status in set(after.by_status) | set(before.by_status)
    }
    assert {status: n for status, n in delta.items() if n} == {"SUCCESS": 2, "FAILURE": 1, "TIMEOUT": 1, "ERROR": 1}
    assert after.total - before.total == 5
    assert 0 < after.wall_time_p50 <= after.wall_time_p95
    assert after.wall_time_mean > 0 and after.throughput > 0
    assert (after.running, after.queued) == (0, 0)


def test_invalid_batch_is_refused_whole_with_field_and_index(executor: Any) -> None:
    before = stats(executor)
    with pytest.raises(ExecutorError) as caught:
        ray.get(executor.execute.remote([echo("fine"), {"command": "echo", "env": {"1BAD": "x"}}]))
    assert isinstance(caught.value, TaskValidationError)
    assert (caught.value.task_index, caught.value.field) == (1, "env.1BAD")

    with pytest.raises(ExecutorError) as caught:
        ray.get(executor.submit.remote([echo("fine"), echo("fine"), Task(command="/sbin/reboot")]))
    assert isinstance(caught.value, SecurityPolicyError)
    assert (caught.value.task_index, caught.value.field) == (2, "command")

    with pytest.raises(ExecutorError) as caught:
        ray.get(executor.execute.remote([{"command": "echo", "surprise": 1}]))
    assert isinstance(caught.value, TaskValidationError)
    assert (caught.value.task_index, caught.value.field) == (0, "surprise")

    with pytest.raises(TaskValidationError):
        ray.get(executor.execute.remote(echo("not-a-list")))
    with pytest.raises(TaskValidationError):
        ray.get(executor.execute.remote([]))

    after = stats(executor)
    assert after.total == before.total  # nothing of a refused batch ran
    assert ray.get(executor.execute.remote([echo("still-serving")]))[0].stdout == "still-serving\n"


def test_concurrent_execute_from_two_threads_and_a_second_driver(executor: Any, ray_cluster: Any) -> None:
    script = f"""
import json, ray
from faber_ray import Task
ray.init(address={ray_cluster.address!r})
executor = ray.get_actor({EXECUTOR_NAME!r}, namespace={NAMESPACE!r})
results = ray.get(executor.execute.remote([Task(command="echo", args=[f"driver2-{{i}}"]) for i in range(12)]))
print(json.dumps([r.stdout for r in results]))
"""
    driver = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def batch(tag: str) -> list[str]:
        results = ray.get(executor.execute.remote([echo(f"{tag}-{i}") for i in range(12)]))
        return [r.stdout for r in results]

    with ThreadPoolExecutor(2) as pool:
        futures = {tag: pool.submit(batch, tag) for tag in ("thread1", "thread2")}
        outputs = {tag: future.result(timeout=240) for tag, future in futures.items()}
    out, err = driver.communicate(timeout=240)
    assert driver.returncode == 0, err[-3000:]
    outputs["driver2"] = json.loads(out.strip().splitlines()[-1])
    for tag, stdout in outputs.items():
        assert stdout == [f"{tag}-{i}\n" for i in range(12)]


def test_cluster_view_lists_workers_slots_and_usage(executor: Any, base_node_ids: set[str]) -> None:
    results = ray.get(executor.execute.remote([echo(f"c{i}") for i in range(6)]))
    ran_on = {r.node_id for r in results}
    snapshot = view(executor)
    assert set(snapshot["nodes"]) == base_node_ids
    # The cap is split into permits over every worker: they add up to it exactly.
    assert sum(node["slots"] for node in snapshot["nodes"].values()) == CAP
    for node in snapshot["nodes"].values():
        assert len(node["workers"]) == POOL
        assert all(worker["slots"] >= 1 for worker in node["workers"])
        assert node["slots_in_use"] == 0
    assert (snapshot["running"], snapshot["queued"]) == (0, 0)

    # Usage reports reach the Monitor fire-and-forget: wait for them.
    def usage_seen() -> bool:
        nodes = view(executor)["nodes"]
        return all(nodes[node]["usage"].get("tasks_finished", 0) > 0 for node in ran_on)

    wait_until(usage_seen, "the Monitor's usage for every node that ran a task")
    # Capacity and reservations come from the Scheduler's one ledger; the Monitor holds usage only.
    node = view(executor)["nodes"][next(iter(ran_on))]
    assert node["memory_capacity"] > 0 and node["pids_capacity"] > 0
    assert (node["memory_reserved"], node["pids_reserved"]) == (0, 0)
    assert "memory_reserved" not in node["usage"]


# ---------------------------------------------------------------------------
# Memory admission
# ---------------------------------------------------------------------------


def test_task_that_fits_no_node_is_refused(tight: Any) -> None:
    with pytest.raises(ExecutorError) as caught:
        ray.get(
            tight.execute.remote(
                [echo("fits"), Task.model_validate({"command": "true", "limits": {"memory": "400MiB", "disk": "10MiB"}})]
            )
        )
    assert isinstance(caught.value, ResourceLimitError)
    assert (caught.value.task_index, caught.value.field) == (1, "limits.memory")


def test_task_that_fits_but_has_no_room_now_waits(tight: Any, base_node_ids: set[str]) -> None:
    # 200 MiB each against 300 MiB per node: one at a time per node, although
    # the cap (6) and the slots would allow six at once.
    results = ray.get(tight.execute.remote([timed(1, memory="200MiB") for _ in range(6)]))
    assert {r.status for r in results} == {TaskStatus.SUCCESS}
    by_node: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for result in results:
        by_node[result.node_id].append(interval(result))
    assert set(by_node) <= base_node_ids
    for node, intervals in by_node.items():
        assert max_overlap(intervals) == 1, f"node {node[:8]} ran 200 MiB tasks side by side: {intervals}"


def test_host_pids_are_admitted_like_memory(tight: Any, base_node_ids: set[str]) -> None:
    """200 processes each (204 host pids with the agent's) against 300 pids per node: one at a time per
    node, although memory (100 MiB of 300), the cap (6) and the slots would allow more."""
    results = ray.get(tight.execute.remote([timed(1, max_processes=200) for _ in range(6)]))
    assert {r.status for r in results} == {TaskStatus.SUCCESS}
    by_node: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for result in results:
        by_node[result.node_id].append(interval(result))
    assert set(by_node) <= base_node_ids
    for node, intervals in by_node.items():
        assert max_overlap(intervals) == 1, f"node {node[:8]} ran 200-process tasks side by side: {intervals}"
    view = ray.get(tight.cluster.remote())
    assert all(node["pids_capacity"] == 300 for node in view["nodes"].values())


def test_a_custom_checkers_sandbox_is_admitted_with_its_program(tight: Any, base_node_ids: set[str]) -> None:
    """A judged task holds two sandboxes at once, the program's (100 MiB) and its checker's (200 MiB),
    against 300 MiB per node: one such task at a time per node, where the program alone would let three."""
    checker = Checker(language="python", source="import sys\nsys.exit(0)\n",
                      limits=ResourceLimits(memory="200MiB", disk="10MiB"))
    stamps = "import time\nprint(time.time_ns() / 1e9)\ntime.sleep(1)\nprint(time.time_ns() / 1e9)\n"
    results = ray.get(tight.execute.remote(
        [languages.task("python", stamps, tests=[TestCase(input="")], checker=checker) for _ in range(4)]
    ))
    assert [(r.status, r.verdict) for r in results] == [(TaskStatus.SUCCESS, Verdict.ACCEPTED)] * 4, results
    by_node: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for result in results:
        start, end = (result.tests or [])[0].stdout.split()
        by_node[result.node_id].append((float(start), float(end)))
    assert set(by_node) <= base_node_ids
    for node, intervals in by_node.items():
        assert max_overlap(intervals) == 1, f"node {node[:8]} ran judged tasks side by side: {intervals}"



# ---------------------------------------------------------------------------
# 1,000 tasks through a queue of 50 (slow)
# ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_thousand_tasks_through_a_queue_of_fifty_never_exceed_the_cap(
    executor: Any, engine: docker.DockerClient
) -> None:
    """SLOW: 1,000 tasks, queue_size 50, max_concurrent_tasks 8. Each task stamps its own start
    and end (the host's clock, read inside the sandbox): at no moment did more than eight run."""
    before = stats(executor)
    tasks = [
        Task(command="sh", args=["-c", f"date +%s.%N; echo {i}; date +%s.%N"]) for i in range(1000)
    ]
    results = ray.get(executor.execute.remote(tasks), timeout=880)
    assert {r.status for r in results} == {TaskStatus.SUCCESS}
    assert [r.stdout.split()[1] for r in results] == [str(i) for i in range(1000)]
    spans = [(float(r.stdout.split()[0]), float(r.stdout.split()[2])) for r in results]
    peak = max_overlap(spans)
    assert 1 < peak <= CAP, f"{peak} tasks ran at once (the cap is {CAP})"
    after = stats(executor)
    assert after.total - before.total == 1000
    assert after.by_status["SUCCESS"] - before.by_status.get("SUCCESS", 0) == 1000
