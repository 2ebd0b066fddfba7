"""Fair share, priorities, quotas and the one ledger, against the real 3-node cluster and real sandboxes.

Each task prints the host clock (read inside its container) when it starts and
ends, so who ran when, and how many ran at once, is measured where the tasks
run, not inferred from the Scheduler's own view. Warm mode only: the order of
dispatch does not depend on the sandbox mode, which the rest of the suite
covers in both.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import ray
from actor_support import interval, max_overlap, timed, view, wait_until, worker_names
from ray.cluster_utils import Cluster

from faber_ray import QueueFullError, Task, TaskResult, TaskStatus
from faber_ray.actors.options import NAMESPACE


@pytest.fixture(scope="module")
def sandbox_mode() -> str:
    return "warm"


def span(result: TaskResult) -> tuple[float, float]:
    assert result.status is TaskStatus.SUCCESS, (result.status, result.error)
    return interval(result)


def gather(refs: list[Any]) -> list[TaskResult]:
    return list(ray.get(refs, timeout=300))


def test_a_higher_priority_overtakes_a_queue_of_lower_ones(make_executor: Any) -> None:
    executor = make_executor(name="fs-priority", max_concurrent_tasks=2)
    low = ray.get(executor.submit.remote([timed(0.4) for _ in range(14)], "alice"))
    wait_until(lambda: ray.get(executor.stats.remote()).running == 2, "the low ones to run")
    high = ray.get(executor.submit.remote([timed(0.4) for _ in range(2)], "alice", 5))
    low_starts = sorted(span(r)[0] for r in gather(low))
    high_start = max(span(r)[0] for r in gather(high))
    before = sum(start < high_start for start in low_starts)
    # At most what was running and what the workers held next (one task per slot) goes first: not the 14.
    assert before <= 2 * 2, f"{before} of 14 lower-priority tasks started before the higher ones"


def test_a_late_small_user_starts_within_about_one_run_while_another_floods(make_executor: Any) -> None:
    executor = make_executor(name="fs-late", max_concurrent_tasks=2)
    flood = ray.get(executor.submit.remote([timed(0.5) for _ in range(40)], "flooder"))
    wait_until(lambda: ray.get(executor.stats.remote()).running == 2, "the flood to run")
    submitted = time.time()
    late = gather(ray.get(executor.submit.remote([timed(0.5) for _ in range(3)], "late")))
    late_starts = sorted(span(r)[0] for r in late)
    flood_starts = [span(r)[0] for r in gather(flood)]
    before_first = sum(submitted < start < late_starts[0] for start in flood_starts)
    before_last = sum(submitted < start < late_starts[-1] for start in flood_starts)
    # A FIFO would start the rest of the 40 first. Fair share: the first late task starts once what the
    # workers already held (a task per slot) has started, and the rest share the slots half and half.
    assert before_first <= 2 * 2, f"{before_first} flood tasks started before the late user's first"
    assert before_last <= 2 * 2 + 4, f"{before_last} flood tasks started before the late user's last"
    statistics = ray.get(executor.stats.remote())
    assert statistics.users["late"].done == 3 and statistics.users["flooder"].done == 40
    assert set(ray.get(executor.stats.remote("late")).users) == {"late"}


def test_two_flooding_users_get_their_weighted_shares(make_executor: Any) -> None:
    executor = make_executor(name="fs-weights", max_concurrent_tasks=4, user_weights={"heavy": 3.0})
    heavy = ray.get(executor.submit.remote([timed(0.2) for _ in range(120)], "heavy"))
    light = ray.get(executor.submit.remote([timed(0.2) for _ in range(120)], "light"))
    heavy_starts = sorted(span(r)[0] for r in gather(heavy))
    light_starts = sorted(span(r)[0] for r in gather(light))
    # While both have tasks waiting: from the light user's first start to the first user's last.
    window = (light_starts[0], min(heavy_starts[-1], light_starts[-1]))
    counted = [sum(window[0] <= s <= window[1] for s in starts) for starts in (heavy_starts, light_starts)]
    share = counted[0] / sum(counted)
    assert abs(share - 0.75) <= 0.075, f"heavy got {share:.2f} of the starts while both flooded ({counted})"


def test_per_user_quotas_refuse_naming_the_user_and_never_block_another(make_executor: Any) -> None:
    executor = make_executor(
        name="fs-quota", max_concurrent_tasks=3, max_queued_per_user=3, max_running_per_user=1
    )
    with pytest.raises(QueueFullError) as refused:
        ray.get(executor.submit_with_ids.remote([timed(0.1) for _ in range(5)], "alice", False))
    assert "user 'alice'" in str(refused.value) and "max_queued_per_user is 3" in str(refused.value)

    # Alice's 8 wait for her room only; Bob's go in at once and run beside hers.
    alice = ray.get(executor.submit.remote([timed(0.3) for _ in range(8)], "alice"))
    wait_until(lambda: ray.get(executor.stats.remote("alice")).users["alice"].queued >= 3, "alice's quota to fill")
    _, bob = ray.get(executor.submit_with_ids.remote([timed(0.3) for _ in range(2)], "bob", False))
    alice_spans = [span(r) for r in gather(alice)]
    bob_spans = [span(r) for r in gather(bob)]
    assert max_overlap(alice_spans) == 1, "max_running_per_user=1, yet alice ran tasks side by side"
    assert max_overlap(bob_spans) == 1
    last_alice = max(end for _, end in alice_spans)
    # Bob ran while alice still had work queued, not after it (her tasks ran one at a time, 2.4 s at least).
    assert all(start < last_alice - 0.3 for start, _ in bob_spans), f"bob waited: {alice_spans} {bob_spans}"


def test_the_monitor_killed_mid_batch_changes_no_admission_and_loses_no_task(make_executor: Any) -> None:
    # 300 MiB per node for sandboxes, 200 MiB per task: one at a time per node, whatever the Monitor does.
    executor = make_executor(name="fs-monitor", max_concurrent_tasks=6, node_sandbox_memory=300 * 1024**2)
    refs = ray.get(executor.submit.remote([timed(0.5, memory="200MiB") for _ in range(12)]))
    wait_until(lambda: ray.get(executor.stats.remote()).running >= 1, "the batch to run")
    tag = next(iter(worker_names(executor))).split("-", 3)[3]  # worker-<node>-<i>-<tag>
    monitor = ray.get_actor(f"monitor-{tag}", namespace=NAMESPACE)
    ray.kill(monitor, no_restart=False)
    results = gather(refs)
    by_node: dict[str, list[tuple[float, float]]] = {}
    for result in results:
        by_node.setdefault(result.node_id, []).append(span(result))
    for node, spans in by_node.items():
        assert max_overlap(spans) == 1, f"node {node[:8]} ran two 200 MiB tasks in 300 MiB"
    # It came back, and takes reports again.
    wait_until(lambda: any(n["usage"] for n in view(executor)["nodes"].values()), "the restarted Monitor's usage")


def test_a_failed_result_send_is_logged_and_its_tasks_still_end(make_executor: Any) -> None:
    executor = make_executor(name="fs-sends", max_concurrent_tasks=3)
    workers = {name: ray.get_actor(name, namespace=NAMESPACE) for name in worker_names(executor)}
    ray.get([handle.fail_sends.remote(2) for handle in workers.values()])
    results = ray.get(executor.execute.remote([Task(command="echo", args=[str(i)]) for i in range(6)]), timeout=120)
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(6)]
    # Each worker's stderr is a file of this session's logs, named after its pid.
    logs = Path(ray._private.worker.global_worker.node.get_logs_dir_path())  # noqa: SLF001
    pids = [ray.get(handle.ready.remote())["pid"] for handle in workers.values()]

    def logged() -> bool:
        for pid in pids:
            for path in logs.glob(f"worker-*-{pid}.err"):
                text = path.read_text(errors="replace")
                if "could not send" in text and "sending them again" in text:
                    return True
        return False

    wait_until(logged, "the failed send in a worker's log")


def test_a_worker_joining_mid_batch_never_lets_more_than_the_cap_run(
    ray_cluster: Cluster, make_executor: Any
) -> None:
    executor = make_executor(name="fs-join", max_concurrent_tasks=4)
    refs = ray.get(executor.submit.remote([timed(0.6) for _ in range(30)]))
    wait_until(lambda: ray.get(executor.stats.remote()).running == 4, "the batch to fill the cap")
    node = ray_cluster.add_node(num_cpus=1)
    try:
        wait_until(lambda: node.node_id in view(executor)["nodes"], "a worker on the node that joined")
        spans = [span(r) for r in gather(refs)]
        assert max_overlap(spans) <= 4, f"{max_overlap(spans)} tasks ran at once; the cap is 4"
    finally:
        ray_cluster.remove_node(node)


def test_one_users_flood_of_results_never_evicts_anothers(make_executor: Any) -> None:
    executor = make_executor(name="fs-cache", max_concurrent_tasks=4, result_cache_size=50)
    ids, refs = ray.get(executor.submit_with_ids.remote([Task(command="echo", args=["mine"])] * 3, "alice"))
    gather(refs)
    flood = [Task(command="true")] * 200
    gather(ray.get(executor.submit.remote(flood, "bob")))
    for execution_id in ids:
        kept = ray.get(executor.get_result.remote(execution_id, "alice"))
        assert kept is not None and kept.stdout == "mine\n", "bob's results pushed alice's out of the cache"
    assert ray.get(executor.cache_info.remote())["size"] == 50
