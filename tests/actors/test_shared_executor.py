"""The shared executor: `faber-ray start/batch/stats/cluster/stop --address` and `faber_ray.connect`,
with a second driver process sharing the same queue.

The first part drives the CLI in this process against the session's cluster.
The second does what the README tells a user to do: `ray start --head`, then
`faber-ray start --address auto` and the other commands, each a process of
its own that finds the cluster (and its token) by itself.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import ray
from actor_support import cluster_containers
from cli_support import Sandbox, marked_containers, poll, ray_head
from ray.cluster_utils import Cluster

import faber_ray
from faber_ray import ExecutionError, Task, TaskStatus, TaskValidationError
from faber_ray.cli import main
from faber_ray.sandbox.labels import LABEL_NODE_ID

SECOND_DRIVER = """
import sys, ray, faber_ray
executor = faber_ray.connect(sys.argv[1])
result = ray.get(executor.execute.remote([faber_ray.Task(command="echo", args=["from another driver"])]))[0]
print(result.status.value, result.stdout.strip())
"""


@pytest.fixture(scope="module")
def address(ray_cluster: Cluster, engine: docker.DockerClient) -> Any:
    yield ray_cluster.address
    main(["stop", "--address", ray_cluster.address])  # whatever a failed test left running
    assert cluster_containers(engine) == []


def test_connect_before_start_says_what_to_do(address: str) -> None:
    with pytest.raises(ExecutionError, match="faber-ray start"):
        faber_ray.connect(address)


def test_start_batch_stats_cluster_stop(
    address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: docker.DockerClient
) -> None:
    assert main(["start", "--address", address]) == 0
    assert "shared executor started" in capsys.readouterr().out
    assert main(["start", "--address", address]) == 0  # harmless the second time
    assert "already running" in capsys.readouterr().out

    tasks = tmp_path / "tasks.jsonl"
    lines = [{"command": "sh", "args": ["-c", f"echo {i}; exit {int(i == 3)}"]} for i in range(8)]
    tasks.write_text("\n".join(json.dumps(line) for line in lines[:4]) + "\n\n" + "\n".join(
        json.dumps(line) for line in lines[4:]) + "\n")
    out = tmp_path / "results.jsonl"
    assert main(["batch", str(tasks), "-o", str(out), "--address", address, "--no-progress"]) == 1  # one FAILURE
    err = capsys.readouterr().err
    assert "8/8 100%" in err and "FAILURE 1 SUCCESS 7" in err
    assert "SUCCESS                       7" in err and "tasks/s" in err  # the summary table
    records = [json.loads(line) for line in out.read_text().splitlines()]
    by_line = {record["line"]: record for record in records}
    assert sorted(by_line) == [1, 2, 3, 4, 6, 7, 8, 9]  # line 5 is blank
    assert by_line[4]["status"] == "FAILURE" and by_line[4]["stdout"] == "3\n"
    assert by_line[9]["stdout"] == "7\n"
    assert not Path(f"{out}.submitted").exists()  # the execution ids are kept only while the batch is unfinished

    # Another driver process shares the same executor, queue and workers.
    driver = subprocess.run(
        [sys.executable, "-c", SECOND_DRIVER, address], capture_output=True, text=True, timeout=120
    )
    assert driver.returncode == 0, driver.stderr
    assert driver.stdout.strip().splitlines()[-1] == "SUCCESS from another driver"

    handle = faber_ray.connect(address)
    assert ray.get(handle.execute.remote([Task(command="true")]))[0].status is TaskStatus.SUCCESS

    assert main(["stats", "--address", address, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total"] == 10 and stats["by_status"] == {"SUCCESS": 9, "FAILURE": 1}
    with pytest.raises(TaskValidationError, match="expected a list of tasks, got None"):
        ray.get(handle.execute.remote(None))  # a sentence, not a TypeError from inside the executor
    assert main(["cluster", "--address", address]) == 0
    view = capsys.readouterr().out
    assert view.startswith("3 node(s)") and view.count("worker-") >= 3
    assert "at most 10 running at once cluster-wide (max_concurrent_tasks)" in view.splitlines()[0]

    assert main(["stop", "--address", address]) == 0
    assert "shared executor stopped" in capsys.readouterr().out
    assert cluster_containers(engine) == []
    assert main(["stop", "--address", address]) == 0
    assert "no shared executor was running" in capsys.readouterr().out


def test_a_malformed_file_runs_nothing(address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"command": "echo"}\n{"command": ""}\nnot json\n{"command": "echo", "env": {"1X": "y"}}\n')
    assert main(["batch", str(tasks)]) == 2
    err = capsys.readouterr().err
    assert "3 line(s)" in err and "nothing was run" in err
    assert "line 2, field 'command': command is empty" in err
    assert "line 3: not valid JSON" in err
    assert "line 4, field 'env.1X'" in err


# A `ray start --head` cluster, driven by separate CLI processes ----------------------------

SHARED_CONFIG = "max_concurrent_tasks: 2\nworker_pool_size: 1\n"


@pytest.fixture(scope="module")
def head(engine: docker.DockerClient) -> Iterator[Sandbox]:
    """`ray start --head` with token auth; at the end the shared executor is stopped and nothing may be left."""
    with ray_head() as box:
        found = subprocess.run(  # plain Ray connects from this shell: the baseline of the issue
            [sys.executable, "-c", "import ray; ray.init(address='auto'); print(ray.get_runtime_context().get_node_id())"],
            env=box.env(), capture_output=True, text=True, timeout=180,
        )
        assert found.returncode == 0, found.stderr
        node_id = found.stdout.split()[-1]
        try:
            yield box
        finally:
            box.cli("stop", "--address", "auto")  # whatever a failed test left running
            left = engine.api.containers(all=True, filters={"label": [f"{LABEL_NODE_ID}={node_id}"]})
            for container in left:
                engine.api.remove_container(container["Id"], force=True)
            assert left == [], "faber-ray containers left behind by the `ray start` cluster"


@pytest.fixture(scope="module")
def shared(head: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    config = tmp_path_factory.mktemp("shared") / "faber.yaml"
    config.write_text(SHARED_CONFIG)
    started = head.cli("start", "--address", "auto", "--config", str(config))
    assert started.returncode == 0, started.stderr
    assert "shared executor started" in started.stdout
    again = head.cli("start", "--address", "auto", "--config", str(config))
    assert again.returncode == 0, again.stderr
    assert "--config was not applied" in again.stdout  # said, not silently ignored
    return head


def total_finished(box: Sandbox) -> int:
    done = box.cli("stats", "--address", "auto", "--json")
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["total"])


def test_the_cli_drives_a_ray_start_cluster(shared: Sandbox) -> None:
    before = total_finished(shared)
    ran = shared.cli("run", "--address", "auto", "--", "echo", "hi")
    assert (ran.returncode, ran.stdout) == (0, "hi\n"), ran.stderr

    view = shared.cli("cluster", "--address", "auto")
    assert view.returncode == 0, view.stderr
    assert view.stdout.startswith("1 node(s), 1 worker(s); 0 running, 0 queued; at most 2 running at once")
    as_json = json.loads(shared.cli("cluster", "--address", "auto", "--json").stdout)
    assert as_json["max_concurrent_tasks"] == 2

    driver = subprocess.run(
        [sys.executable, "-c", SECOND_DRIVER, "auto"], env=shared.env(), capture_output=True, text=True, timeout=180
    )
    assert driver.returncode == 0, driver.stderr
    assert driver.stdout.strip().splitlines()[-1] == "SUCCESS from another driver"
    assert total_finished(shared) == before + 2


def test_a_refused_token_is_reported_as_an_authentication_failure(head: Sandbox) -> None:
    # Ray would retry a refused token for 20 s, a warning a second: faber-ray asks once and says so.
    refused = head.cli("stats", "--address", "auto", RAY_AUTH_TOKEN="not-the-token")
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) <= 3, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("faber-ray: error: authentication with the Ray cluster at 'auto' failed"), refused.stderr
    assert "is it running" not in last
    assert "Traceback" not in refused.stderr


def test_ctrl_c_on_run_cancels_the_task_on_the_shared_executor(shared: Sandbox, engine: docker.DockerClient) -> None:
    mark = uuid.uuid4().hex
    run = shared.popen("run", "--address", "auto", "--env", f"FABER_TEST_MARK={mark}", "--", "sleep", "600")
    try:
        poll(lambda: marked_containers(engine, mark) or run.poll() is not None, "the task's container")
        assert run.poll() is None, run.communicate()
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, err
    assert "faber-ray: CANCELLED" in err
    poll(lambda: not marked_containers(engine, mark, running_only=False), "the container to be removed", 60)
    stats = json.loads(shared.cli("stats", "--address", "auto", "--json").stdout)
    assert stats["by_status"].get("CANCELLED") == 1


def records(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of a file the CLI is writing."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]


RESUMABLE = {
    1: ("echo one", "one\n"),
    2: ("echo two", "two\n"),
    3: ("sleep 15; echo three", "three\n"),  # still running when the batch is interrupted
    4: ("sleep 15; echo four", "four\n"),
    5: ("echo five", "five\n"),  # still queued then (two run at once)
    6: ("echo six", "six\n"),
}


def test_an_interrupted_batch_resumes_without_running_anything_twice(shared: Sandbox, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"command": "sh", "args": ["-c", script]}) + "\n" for script, _ in RESUMABLE.values()))
    out = tmp_path / "results.jsonl"
    submitted_file = Path(f"{out}.submitted")
    command = ["batch", str(tasks), "-o", str(out), "--address", "auto", "--no-progress"]
    before = total_finished(shared)

    batch = shared.popen(*command)
    try:
        poll(lambda: (len(records(out)) >= 2 and len(records(submitted_file)) == 6) or batch.poll() is not None,
             "the first results")
        batch.send_signal(signal.SIGINT)
        _, err = batch.communicate(timeout=180)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode == 130, err
    assert "keep running on the shared executor" in err and "--resume` picks up their results" in err
    written = {record["line"] for record in records(out)}
    submitted = {record["line"]: record["execution_id"] for record in records(submitted_file)}
    assert sorted(submitted) == [1, 2, 3, 4, 5, 6]  # kept, because the batch did not end

    resumed = shared.cli(*command, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert (f"resuming: {len(written)} line(s) already have a result, {6 - len(written)} to pick up "
            "from the executor, 0 to run") in resumed.stderr
    final = records(out)
    assert sorted(record["line"] for record in final) == [1, 2, 3, 4, 5, 6]  # every line once
    assert {record["line"]: record["stdout"] for record in final} == {n: out for n, (_, out) in RESUMABLE.items()}
    assert {record["line"]: record["execution_id"] for record in final} == submitted  # picked up, not run again
    assert total_finished(shared) == before + 6
    assert not submitted_file.exists()  # the batch ended

    # A line without a result runs again, and only that line.
    out.write_text("".join(json.dumps(record) + "\n" for record in final if record["line"] != 6))
    again = shared.cli(*command, "--resume")
    assert again.returncode == 0, again.stderr
    assert "5 line(s) already have a result, 0 to pick up from the executor, 1 to run" in again.stderr
    assert sorted(record["line"] for record in records(out)) == [1, 2, 3, 4, 5, 6]
    assert total_finished(shared) == before + 7

    nothing = shared.cli(*command, "--resume")
    assert nothing.returncode == 0 and "nothing to run" in nothing.stderr


def test_stop_ends_the_shared_executor(shared: Sandbox) -> None:
    stopped = shared.cli("stop", "--address", "auto")
    assert stopped.returncode == 0, stopped.stderr
    assert "shared executor stopped" in stopped.stdout
    again = shared.cli("stats", "--address", "auto")
    assert again.returncode == 2 and "no shared executor runs in this cluster" in again.stderr
