"""`faber-ray run --direct` against the real engine, and the CLI's refusals."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Sandbox, sandbox_dirs

from faber_ray.cli import main
from faber_ray.validation import MAX_PATH_BYTES, MAX_PATH_DEPTH


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
    assert code == 124  # as coreutils `timeout`; never the command's own code, which may even be 0
    assert "faber-ray: TIMEOUT (exit 124)" in capsys.readouterr().err  # the line says what $? says


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


# Deep and long paths --------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "/".join(["d"] * MAX_PATH_DEPTH + ["f"]),
        "/".join(["n" * 254] * 12 + ["f" * (MAX_PATH_BYTES - 12 * 255)]),  # exactly MAX_PATH_BYTES
    ],
    ids=["deepest", "longest"],
)
def test_the_deepest_and_longest_paths_accepted_arrive(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What validation accepts, the host and the sandbox can write; no host path shows in the result."""
    source = tmp_path / "content"
    source.write_text("arrived\n")
    assert len(name.encode()) <= MAX_PATH_BYTES and len(name.split("/")) <= MAX_PATH_DEPTH + 1
    assert main(["run", "--direct", "--json", "--file", f"{name}={source}", "--", "cat", name]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)
    assert (result["status"], result["stdout"]) == ("SUCCESS", "arrived\n")
    assert "/tmp/" not in out and "faber-ray-files" not in out


def test_a_too_deep_path_is_refused_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "content"
    source.write_text("x")
    main(["run", "--direct", "--file", f"{'/'.join(['a'] * 1000)}={source}", "--", "true"])
    err = capsys.readouterr().err
    assert f"at most {MAX_PATH_DEPTH} are allowed" in err
    assert "/tmp/" not in err


# Piped stdin (the CLI as its own process) ---------------------------------------------


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with sandbox_dirs() as sandbox:
        yield sandbox


def test_piped_stdin_is_sent(box: Sandbox) -> None:
    done = box.cli("run", "--direct", "--", "cat", input=b"hi\n")
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr


def test_redirected_stdin_is_sent(box: Sandbox, tmp_path: Path) -> None:
    source = tmp_path / "input.txt"
    source.write_text("from a file\n")
    with source.open("rb") as stdin:
        done = subprocess.run(
            [*box.command(), "run", "--direct", "--", "sh", "-c", "wc -l"], stdin=stdin, env=box.env(),
            capture_output=True, text=True, timeout=120,
        )
    assert (done.returncode, done.stdout.strip()) == (0, "1"), done.stderr


def test_no_stdin_sends_nothing(box: Sandbox) -> None:
    """/dev/null (or a terminal) is not data: the command sees an empty, closed stdin."""
    done = box.cli("run", "--direct", "--", "sh", "-c", "cat; echo end")
    assert (done.returncode, done.stdout) == (0, "end\n"), done.stderr


def test_a_command_that_is_not_found_says_so_as_a_shell_would(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--direct", "--", "no-such-command"]) == 127
    err = capsys.readouterr().err
    assert err.startswith("faber-ray: command not found: no-such-command\nfaber-ray: FAILURE (exit 127)"), err
