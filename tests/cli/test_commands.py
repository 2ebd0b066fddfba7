"""The CLI without an engine or Ray: exit codes, refusals as sentences, the task file reader, the views."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from faber_ray import __version__
from faber_ray.cli import build_parser, commands, main
from faber_ray.cli.batch import read_tasks
from faber_ray.cli.render import cluster_table
from faber_ray.cli.run import exit_code_for
from faber_ray.config import ExecutorConfig
from faber_ray.errors import TaskValidationError
from faber_ray.models import TaskResult, TaskStatus

S = TaskStatus


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FABER_RAY_CONFIG", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)


def refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one sentence `faber-ray ARGV` answers with (it must exit 2, without a traceback)."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("faber-ray: error: "), err
    assert "Traceback" not in err
    return err


# Exit codes of `run` ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exit_code", "expected"),
    [
        (S.SUCCESS, 0, 0),
        (S.FAILURE, 3, 3),
        (S.FAILURE, 137, 137),  # killed from outside: the command's own code
        (S.TIMEOUT, 137, 124),
        (S.TIMEOUT, 0, 124),  # a timeout never exits 0
        (S.TIMEOUT, None, 124),
        (S.CANCELLED, 137, 130),  # the status decides, not the container's exit code
        (S.CANCELLED, None, 130),
        (S.ERROR, None, 125),
        (S.MEMORY_LIMIT_EXCEEDED, 137, 137),
        (S.CPU_LIMIT_EXCEEDED, 137, 152),
        (S.OUTPUT_LIMIT_EXCEEDED, 0, 153),
    ],
)
def test_the_status_decides_the_exit_code(status: TaskStatus, exit_code: int | None, expected: int) -> None:
    result = TaskResult(execution_id="x", status=status, exit_code=exit_code)
    assert exit_code_for(result) == expected


def test_only_success_exits_0() -> None:
    for status in TaskStatus:
        code = exit_code_for(TaskResult(execution_id="x", status=status, exit_code=0))
        assert (code == 0) is (status is S.SUCCESS), status


# Refusals read like sentences ------------------------------------------------------------


def test_a_missing_stdin_file(capsys: pytest.CaptureFixture[str]) -> None:
    err = refusal(["run", "--direct", "--stdin", "missing.txt", "--", "cat"], capsys)
    assert "field 'stdin': cannot read missing.txt: No such file or directory" in err


def test_a_missing_task_file(capsys: pytest.CaptureFixture[str]) -> None:
    err = refusal(["batch", "nofile.jsonl"], capsys)
    assert "cannot read nofile.jsonl: No such file or directory" in err


def test_a_task_file_with_invalid_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_bytes(b'{"command": "echo"}\n{"command": "ech\xff"}\n{"command": "true"}\n')
    err = refusal(["batch", str(tasks)], capsys)
    assert "1 line(s)" in err and "nothing was run" in err
    assert "line 2: not valid UTF-8 (byte 0xff at byte 17)" in err


@pytest.mark.parametrize(
    ("line", "column"),
    [
        ("not json", 1),
        ('{"command": ech}', 13),  # the 'e'
        ('{"command": "echo",}', 20),  # the '}'
        ('{"command": "echo"', 19),  # just past the end of the line, not "column 1" of the next
        ('{"é": "x",, }', 11),  # characters, not bytes
        ('{"command": "echo"} x', 21),
    ],
)
def test_a_json_error_names_the_1_based_character_column(tmp_path: Path, line: str, column: int) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(f'{{"command": "true"}}\n{line}\r\n', encoding="utf-8")
    with pytest.raises(TaskValidationError) as caught:
        read_tasks(str(tasks), ExecutorConfig())
    assert "line 2: not valid JSON (" in caught.value.reason
    assert caught.value.reason.endswith(f" at column {column})")


def test_a_byte_order_mark_is_not_an_error(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_bytes(b'\xef\xbb\xbf{"command": "true"}\n')
    assert [number for number, _ in read_tasks(str(tasks), ExecutorConfig())] == [1]


@pytest.mark.parametrize("command", ["run", "batch"])
def test_config_with_address_is_refused_not_ignored(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "faber.yaml"
    config.write_text("queue_size: 3\n")
    target = ["--", "true"] if command == "run" else [str(tmp_path / "tasks.jsonl")]
    err = refusal([command, "--address", "auto", "--config", str(config), *target], capsys)
    assert "--config does not apply with --address" in err
    assert "faber-ray start --config" in err


def test_resume_needs_an_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"command": "true"}\n')
    err = refusal(["batch", str(tasks), "--resume"], capsys)
    assert err.startswith("faber-ray: error: --resume needs -o RESULTS.jsonl") and "field" not in err


def test_a_reader_that_goes_away_is_no_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`faber-ray cluster | head`: the pipe closing is not 'could not reach the Ray cluster'."""

    def closed_pipe(args: Any) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(commands, "cmd_cluster", closed_pipe)
    monkeypatch.setattr("sys.stdout", open("/dev/null", "w"))  # noqa: SIM115 - main points fd 1 at /dev/null
    assert main(["cluster"]) == 141
    assert capsys.readouterr().err == ""


def test_a_misspelled_variable_stops_the_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FABER_RAY_QUEUESIZE", "3")
    err = refusal(["run", "--direct", "--", "true"], capsys)
    assert "unknown environment variable FABER_RAY_QUEUESIZE" in err
    assert "did you mean FABER_RAY_QUEUE_SIZE?" in err


# --version and --help ----------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"faber-ray {__version__}\n"


@pytest.mark.parametrize("command", ["run", "batch", "start", "stop", "stats", "cluster", "images"])
def test_every_command_has_a_description(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    paragraphs = capsys.readouterr().out.split("\n\n")
    assert paragraphs[0].startswith(f"usage: faber-ray {command}")
    description = paragraphs[1].strip()
    assert not description.startswith(("options:", "positional arguments:")), f"{command} --help has no description"
    assert len(description) > 20


# The cluster view --------------------------------------------------------------------


def _view() -> dict[str, Any]:
    workers = [{"name": f"worker-abcdef12-{i}", "slots": 1, "running": i % 2} for i in range(12)]
    random.Random(7).shuffle(workers)
    return {
        "nodes": {"abcdef1234": {"workers": workers, "slots": 12, "slots_in_use": 6, "memory_capacity": 1024**3}},
        "unavailable_nodes": {}, "running": 6, "queued": 4, "max_concurrent_tasks": 10,
    }


def test_the_cluster_view_shows_the_cluster_wide_cap() -> None:
    head = cluster_table(_view()).splitlines()[0]
    assert head == "1 node(s), 12 worker(s); 6 running, 4 queued; at most 10 running at once cluster-wide (max_concurrent_tasks)"


def test_the_cluster_view_sorts_workers_in_natural_order() -> None:
    lines = [line.strip() for line in cluster_table(_view()).splitlines() if line.startswith("  worker-")]
    assert [line.split(":")[0] for line in lines] == [f"worker-abcdef12-{i}" for i in range(12)]
    assert lines[1] == "worker-abcdef12-1: 1 running in 1 slots"
