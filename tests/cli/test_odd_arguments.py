"""Odd input on the command line is a sentence and exit code 2, never a traceback (the CLI as its own process).

Numbers too large for any limit, sizes beyond a float's range, NaN, arguments
whose bytes are not UTF-8, a JSONL line with a number longer than Python reads:
each is refused before anything starts (no Ray, no container), in one line that
names what was wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Sandbox, sandbox_dirs

HUGE = "1" + "0" * 30
HUGER = "1" + "0" * 400


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with sandbox_dirs() as sandbox:
        yield sandbox


def refused(box: Sandbox, *args: str) -> str:
    """The CLI's sentence for a refusal (exit 2; its last line, or all of it for a batch's list)."""
    done = box.cli(*args, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert "faber-ray" in done.stderr and "error: " in done.stderr, done.stderr  # argparse's usage comes first
    last = done.stderr.strip().splitlines()[-1]
    assert len(last.split()) >= 4, done.stderr
    return last


def test_the_issues_command_is_a_sentence(box: Sandbox) -> None:
    last = refused(box, "run", "--memory", "1000000000000000000000000000000", "--", "echo")
    assert "--memory" in last and "at most 9223372036854775807" in last


@pytest.mark.parametrize("flag", ["--memory", "--max-output", "--disk"])
@pytest.mark.parametrize(
    "value", [HUGE, HUGER, HUGE + "t", "1" * 5000 + "m", "9223372036854775808"],
    ids=["1e30", "1e400", "1e30t", "5000-digits", "2**63"],
)
def test_a_size_too_large_for_any_limit_is_refused(box: Sandbox, flag: str, value: str) -> None:
    last = refused(box, "run", "--direct", f"{flag}={value}", "--", "echo")
    assert flag in last and "at most" in last


@pytest.mark.parametrize("value", [HUGE, HUGER, "9223372036854775808"], ids=["1e30", "1e400", "2**63"])
def test_a_process_count_too_large_is_refused(box: Sandbox, value: str) -> None:
    last = refused(box, "run", "--direct", f"--max-processes={value}", "--", "echo")
    assert "--max-processes" in last and "at most" in last


@pytest.mark.parametrize("flag", ["--timeout", "--cpu-time"])
@pytest.mark.parametrize("value", ["1e400", HUGER, "nan", "inf", "-inf"], ids=["1e400", "1e400-digits", "nan", "inf", "-inf"])
def test_seconds_that_are_not_finite_are_refused(box: Sandbox, flag: str, value: str) -> None:
    last = refused(box, "run", "--direct", f"{flag}={value}", "--", "echo")
    assert flag.strip("-").replace("-", "_") in last and "finite" in last


def test_an_argument_whose_bytes_are_not_utf8_is_refused(box: Sandbox) -> None:
    # "\udcff" is how Python shows the byte 0xff of a command line; it reaches the CLI as that byte.
    last = refused(box, "run", "--direct", "--", "echo", "caf\udcff")
    assert "args.0" in last and "not valid UTF-8 text" in last


def test_a_batch_line_with_a_number_longer_than_python_reads(box: Sandbox, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"command": "echo"}\n{"command": "echo", "limits": {"memory": ' + "9" * 5000 + "}}\n")
    last = refused(box, "batch", str(tasks))
    assert "line 2: not valid JSON here, a number is too long to read" in last
