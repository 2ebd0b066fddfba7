"""What a first user trips on, tried as a user does: the CLI as a process of its own, with its own local Ray."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Sandbox, poll, sandbox_dirs


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with sandbox_dirs() as sandbox:
        yield sandbox


def test_a_missing_command_is_named_as_a_shell_would_through_the_executor(box: Sandbox) -> None:
    done = box.cli("run", "--", "no-such-command")
    assert done.returncode == 127, done.stderr
    lines = done.stderr.splitlines()
    assert "faber-ray: command not found: no-such-command" in lines, done.stderr
    assert lines[-1].startswith("faber-ray: FAILURE (exit 127)"), done.stderr


def test_ctrl_c_right_after_a_batchs_summary_is_no_traceback(box: Sandbox, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"command": "echo", "args": ["one"]}\n{"command": "echo", "args": ["two"]}\n')
    batch = box.popen("batch", str(tasks), "-o", str(tmp_path / "results.jsonl"), "--no-progress")
    said: list[str] = []  # the summary goes to stderr, with the progress
    reader = threading.Thread(target=lambda: said.extend(iter(batch.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        poll(lambda: any(" tasks in " in line for line in said) or batch.poll() is not None, "the summary")
        assert batch.poll() is None, "".join(said)  # the test needs it still shutting down
        batch.send_signal(signal.SIGINT)  # while the batch shuts its local Ray down
        batch.wait(timeout=120)
        reader.join(timeout=10)
    finally:
        if batch.poll() is None:
            batch.kill()
    err = "".join(said)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert batch.returncode in (0, 130), err  # done, or interrupted while ending: a code, not a crash
