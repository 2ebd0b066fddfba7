"""Ctrl-C on `faber-ray run`: the task is cancelled, its container removed, and `run` exits 130.

The CLI runs as a process of its own and gets a real SIGINT, as from a
terminal; the container is watched on the real engine.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from cli_support import Sandbox, marked_containers, poll, sandbox_dirs


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with sandbox_dirs() as sandbox:
        yield sandbox


@pytest.mark.parametrize("how", [[], ["--direct"]], ids=["private-executor", "direct"])
def test_ctrl_c_cancels_the_task_and_removes_its_container(
    box: Sandbox, docker_client: docker.DockerClient, how: list[str]
) -> None:
    mark = uuid.uuid4().hex
    run = box.popen("run", *how, "--env", f"FABER_TEST_MARK={mark}", "--", "sleep", "600")
    try:
        poll(lambda: marked_containers(docker_client, mark, running_only=True) or run.poll() is not None,
             "the task's container to run")
        assert run.poll() is None, run.communicate()
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=180)
        assert run.returncode == 130, err
        poll(lambda: not marked_containers(docker_client, mark, running_only=False), "the container to be removed", 60)
    finally:
        if run.poll() is None:
            run.kill()
        for container in marked_containers(docker_client, mark, running_only=False):  # a failed test's leftover
            docker_client.api.remove_container(container, force=True)
    assert "faber-ray: interrupted; cancelling the task" in err
    assert "faber-ray: CANCELLED" in err  # the status decides the exit code, not the container's 137
    assert "Traceback" not in err


def test_the_suite_passes_its_ctrl_c_tests_when_started_in_the_background() -> None:
    """A background job inherits SIGINT ignored; the suite must still give its children the default."""
    root = Path(__file__).resolve().parent.parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "direct",
         "tests/cli/test_interrupt.py::test_ctrl_c_cancels_the_task_and_removes_its_container"],
        cwd=root, capture_output=True, text=True, timeout=600,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `bash scripts/test &` starts it
    )
    assert done.returncode == 0, done.stdout[-3000:]
