"""The shared executor: `faber-ray start/batch/stats/cluster/stop --address` and `faber_ray.connect`,
with a second driver process sharing the same queue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker
import pytest
import ray
from actor_support import cluster_containers
from ray.cluster_utils import Cluster

import faber_ray
from faber_ray import ExecutionError, Task, TaskStatus
from faber_ray.cli import main

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
    assert main(["cluster", "--address", address]) == 0
    view = capsys.readouterr().out
    assert view.startswith("3 node(s)") and view.count("worker-") >= 12

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
