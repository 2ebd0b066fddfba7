"""`faber-ray run --direct` against the real engine, and the CLI's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faber_ray.cli import build_parser, main


def test_prints_output_and_a_status_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--direct", "--", "sh", "-c", "echo out; echo err >&2"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out == "out\n"
    assert captured.err.startswith("err\nfaber-ray: SUCCESS (exit 0)")


def test_exits_with_the_tasks_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--direct", "--", "sh", "-c", "exit 3"]) == 3
    assert "faber-ray: FAILURE (exit 3)" in capsys.readouterr().err


def test_limits_files_env_and_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "main.py"
    script.write_text("import os, sys\nprint(os.environ['WHO'], sys.stdin.read().strip())\n")
    stdin = tmp_path / "input.txt"
    stdin.write_text("from stdin\n")
    code = main([
        "run", "--direct", "--timeout", "10", "--memory", "128m", "--file", f"main.py={script}",
        "--env", "WHO=sandbox", "--stdin", str(stdin), "--", "python", "main.py",
    ])
    assert code == 0
    assert capsys.readouterr().out == "sandbox from stdin\n"


def test_timeout_status_line_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--direct", "--timeout", "0.5", "--", "sleep", "10"])
    assert code == 137
    assert "faber-ray: TIMEOUT" in capsys.readouterr().err


def test_json_prints_the_whole_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--direct", "--json", "--", "echo", "hi"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "SUCCESS"
    assert result["stdout"] == "hi\n"
    assert set(result) >= {"execution_id", "exit_code", "resource_usage", "resource_limits_exceeded", "image"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--direct", "--"], "command is empty"),
        (["run", "--direct", "--", "reboot"], "blocked by policy"),
        (["run", "--direct", "--env", "1BAD=x", "--", "true"], "env.1BAD"),
        (["run", "--direct", "--file", "nothing-here", "--", "true"], "--file takes NAME=VALUE"),
        (["run", "--direct", "--file", "a=/no/such/file", "--", "true"], "cannot read /no/such/file"),
    ],
)
def test_refusals_read_like_sentences(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("faber-ray: error: ")
    assert message in err
    assert "Traceback" not in err


def test_a_bad_size_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--direct", "--memory", "lots", "--", "true"])
    assert exit_info.value.code == 2
    assert "'lots' is not a size" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "batch", "start", "stop", "stats", "cluster", "images"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: faber-ray {command}")
    assert len(text.splitlines()) > 3
