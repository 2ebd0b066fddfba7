"""`faber-ray run --language`, live output, and language lines in a batch, through the real CLI."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

SUM = "#include <iostream>\nint main() { long a, b; if (!(std::cin >> a >> b)) return 3; std::cout << a + b << \"\\n\"; }\n"


def cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faber_ray", *args], cwd=cwd, input=stdin, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def test_a_program_judged_against_inputs_prints_one_block_each(tmp_path: Path) -> None:
    (tmp_path / "sum.cpp").write_text(SUM)
    for name, text in (("a", "1 2\n"), ("b", "oops\n"), ("c", "40 2\n")):
        (tmp_path / name).write_text(text)
    done = cli("run", "--direct", "--language", "cpp", "sum.cpp", "--input", "a", "--input", "b", "--input", "c",
               cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # FAILURE: the second input failed
    assert done.stdout == "==> input 1 (a): SUCCESS, exit 0\n3\n==> input 2 (b): FAILURE, exit 3\n" \
                          "==> input 3 (c): SUCCESS, exit 0\n42\n"
    assert "faber-ray: FAILURE (exit 1) input 2 (b) failed;" in done.stderr  # exit 1 is run's own $? here


def test_a_compile_error_shows_the_compilers_message(tmp_path: Path) -> None:
    (tmp_path / "bad.c").write_text("int main(void) { retur 0; }\n")
    done = cli("run", "--direct", "--language", "c", "bad.c", cwd=tmp_path)
    assert done.returncode == 1
    assert "error:" in done.stderr and "retur" in done.stderr
    assert "faber-ray: FAILURE (exit 1) compile failed;" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_language_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "x.cob").write_text("")
    done = cli("run", "--direct", "--language", "cobol", "x.cob", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown language 'cobol'" in done.stderr and "cpp" in done.stderr


def test_output_is_printed_as_it_comes(tmp_path: Path) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "faber_ray", "run", "--direct", "--", "sh", "-c", "echo first; exec sleep 60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert run.stdout is not None
        ready, _, _ = select.select([run.stdout], [], [], 120)
        assert ready, "no output within 120 s"
        assert run.stdout.readline() == b"first\n"
        assert run.poll() is None  # the task still runs: the line came as it was written
    finally:
        run.kill()
        run.wait()


@pytest.mark.timeout(600)
def test_a_batch_mixes_language_lines_and_plain_tasks(tmp_path: Path) -> None:
    lines = [
        {"language": "cpp", "source": SUM, "inputs": ["2 3\n", "x\n"]},
        {"command": "echo", "args": ["plain"]},
    ]
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = cli("batch", "tasks.jsonl", "-o", "results.jsonl", "--no-progress", cwd=tmp_path)
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    by_line = {record["line"]: record for record in results}
    assert [step["stdout"] for step in by_line[1]["steps"][1:]] == ["5\n", ""]
    assert by_line[1]["status"] == "FAILURE" and by_line[2]["stdout"] == "plain\n"
    assert done.returncode == 1, done.stderr
