"""A real Ray Data pipeline through the processor: hundreds of rows, real sandboxes, every row checked.

Each row carries what it must come out as (``want_*`` columns), so the check
is row by row and a wrong row is named by its id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import ray.data

from faber_ray.data import REFUSED, RESULT_COLUMNS, Processor
from faber_ray.data.rows import refused_columns, result_columns
from faber_ray.errors import ExecutorError, TaskValidationError, unwrap_error
from faber_ray.models import TaskResult

SQUARE = "n = int(input())\nprint(n * n)\n"
DOUBLE = "n = int(input())\nprint(n + n)\n"  # right for 2 only
CRASH = "raise SystemExit(3)\n"
TESTS = [{"input": "2\n", "expected_output": "4\n"}, {"input": "3\n", "expected_output": "9\n", "points": 2.0}]
CPP_SQUARE = "#include <cstdio>\nint main(){long n; scanf(\"%ld\",&n); printf(\"%ld\\n\", n*n);}\n"
CPP_DOUBLE = "#include <cstdio>\nint main(){long n; scanf(\"%ld\",&n); printf(\"%ld\\n\", n+n);}\n"

# (what the row gives, status, verdict, score, test verdicts)
PYTHON = [
    ({"source": SQUARE}, "SUCCESS", "ACCEPTED", 3.0, ["ACCEPTED", "ACCEPTED"]),
    ({"source": DOUBLE}, "SUCCESS", "WRONG_ANSWER", 1.0, ["ACCEPTED", "WRONG_ANSWER"]),
    ({"source": CRASH}, "FAILURE", "RUNTIME_ERROR", 0.0, ["RUNTIME_ERROR", "RUNTIME_ERROR"]),
]
CPP = [
    ({"source": CPP_SQUARE}, "SUCCESS", "ACCEPTED", 3.0, ["ACCEPTED", "ACCEPTED"]),
    ({"source": CPP_DOUBLE}, "SUCCESS", "WRONG_ANSWER", 1.0, ["ACCEPTED", "WRONG_ANSWER"]),
    ({"source": "int main( {"}, "FAILURE", "COMPILATION_ERROR", 0.0, ["SKIPPED", "SKIPPED"]),
]
#: Rows refused before they run: (the row's own columns, the field the refusal names).
REFUSALS = [
    ({"language": "cobol", "source": "x"}, "language"),
    ({"task": json.dumps({"command": "echo", "limits": {"timeout": -1}})}, "limits.timeout"),
    ({"task": json.dumps({"command": ""})}, "command"),
    ({"task": json.dumps({"command": "echo", "network": True})}, "network"),
    ({"task": "{not json"}, "task"),
    # Valid in itself; the executor refuses it (no node has the image), and only it.
    ({"task": json.dumps({"command": "true", "image": "faber-ray/absent:0"})}, "image"),
]


def _rows(has_cpp: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(given: dict[str, Any], status: str, verdict: str | None = None, score: float = 0.0,
            tests: list[str] | None = None, field: str | None = None) -> None:
        rows.append({"id": f"r{len(rows)}", "language": None, "source": None, "tests": None, "task": None, **given,
                     "want_status": status, "want_verdict": verdict, "want_score": score, "want_tests": tests,
                     "want_field": field})

    for number in range(150):
        given, *want = PYTHON[number % len(PYTHON)]
        add({"language": "python", "tests": TESTS, **given}, *want)
    for number in range(70):
        add({"task": json.dumps({"command": "echo", "args": [f"row {number}"]})}, "SUCCESS")
    for given, *want in CPP if has_cpp else []:
        add({"language": "cpp", "tests": TESTS, **given}, *want)
    for _ in range(4):
        for given, field in REFUSALS:
            add(given, REFUSED, field=field)
    return rows


def test_a_few_hundred_rows_each_come_out_right_and_refusals_do_not_stop_the_pipeline(
    make_processor: Callable[..., Processor], has_cpp: bool
) -> None:
    rows = _rows(has_cpp)
    processor = make_processor(concurrency=(1, 3), batch_size=16, id_column="id")
    out = processor(ray.data.from_items(rows)).take_all()

    assert sorted(row["id"] for row in out) == sorted(row["id"] for row in rows)
    for row in out:
        assert set(RESULT_COLUMNS) <= set(row), row
        got = (row["status"], row["verdict"], row["score"], row["test_verdicts"])
        want = (row["want_status"], row["want_verdict"], row["want_score"], row["want_tests"])
        assert got == want, f"{row['id']}: {got} != {want} ({row['error']}; {row['stderr'][-300:]})"
        if row["status"] == REFUSED:
            # The refusal names the row's place in its batch, the field, the reason and the row's id.
            assert f"field '{row['want_field']}'" in row["error"], row
            assert f"(row id={row['id']!r})" in row["error"] and row["error"].startswith("task "), row
            assert row["execution_id"] is None and row["exit_code"] is None
        else:
            assert row["execution_id"] and row["error"] is None, row
            assert row["max_score"] == (3.0 if row["want_verdict"] else 0.0)
    echoed = {row["stdout"] for row in out if row["task"] and row["status"] == "SUCCESS"}
    assert echoed == {f"row {number}\n" for number in range(70)}
    # Every row that was not refused ran once, and nothing else did.
    assert processor.stats().total == sum(row["want_status"] != REFUSED for row in rows)


def test_fresh_sandboxes_give_the_same_rows(make_processor: Callable[..., Processor], has_cpp: bool) -> None:
    """The same kinds of rows in fresh mode (a container of its own per row), fewer of them."""
    rows = [row for row in _rows(has_cpp) if row["want_status"] == REFUSED or row["task"] is None][:12]
    rows += [row for row in _rows(has_cpp) if row["task"] and row["want_status"] == "SUCCESS"][:6]
    rows += [row for row in _rows(has_cpp) if row["want_status"] == REFUSED][:6]

    def postprocess(row: dict[str, Any], result: TaskResult | ExecutorError) -> dict[str, Any]:
        """The default columns, and the sandbox each task really ran in."""
        if isinstance(result, ExecutorError):
            return {**row, **refused_columns(result), "sandbox": None}
        return {**row, **result_columns(result), "sandbox": result.sandbox}

    processor = make_processor(
        postprocess=postprocess, executor_config={"sandbox_mode": "fresh", "max_concurrent_tasks": 4}, concurrency=1, batch_size=8,
    )
    out = processor(ray.data.from_items(rows)).take_all()

    assert sorted(row["id"] for row in out) == sorted(row["id"] for row in rows)
    for row in out:
        got = (row["status"], row["verdict"], row["score"], row["test_verdicts"])
        want = (row["want_status"], row["want_verdict"], row["want_score"], row["want_tests"])
        assert got == want, f"{row['id']}: {got} != {want} ({row['error']}; {row['stderr'][-300:]})"
        assert row["sandbox"] == (None if row["status"] == REFUSED else "fresh"), row
    assert processor.stats().total == sum(row["want_status"] != REFUSED for row in rows)


def test_continue_on_error_false_stops_at_the_first_refusal_with_it(
    make_processor: Callable[..., Processor]
) -> None:
    rows = [{"id": n, "task": json.dumps({"command": "echo", "args": [str(n)]})} for n in range(8)]
    rows[5]["task"] = json.dumps({"command": "echo", "limits": {"memory": 0}})
    processor = make_processor(continue_on_error=False, batch_size=8, concurrency=1)
    with pytest.raises(ExecutorError) as raised:
        processor(ray.data.from_items(rows)).take_all()
    refusal = unwrap_error(raised.value)
    assert isinstance(refusal, TaskValidationError)
    assert (refusal.task_index, refusal.field) == (5, "limits.memory")
    assert processor.stats().total == 0  # its batch-mates did not run either


def test_preprocess_gives_the_task_and_postprocess_shapes_the_row(make_processor: Callable[..., Processor]) -> None:
    def preprocess(row: dict[str, Any]) -> dict[str, Any]:
        return {"language": "python", "source": row["answer"], "tests": [{"input": "", "expected_output": "42\n"}]}

    def postprocess(row: dict[str, Any], result: TaskResult | ExecutorError) -> dict[str, Any]:
        if isinstance(result, ExecutorError):
            return {"id": row["id"], "reward": -1.0, "why": result.field}
        return {"id": row["id"], "reward": result.score / result.max_score, "why": str(result.verdict)}

    rows = [{"id": 0, "answer": "print(42)"}, {"id": 1, "answer": "print(41)"}, {"id": 2, "answer": None}]
    processor = make_processor(preprocess=preprocess, postprocess=postprocess)
    out = sorted(processor(ray.data.from_items(rows)).take_all(), key=lambda row: row["id"])
    assert out == [
        {"id": 0, "reward": 1.0, "why": "ACCEPTED"},
        {"id": 1, "reward": 0.0, "why": "WRONG_ANSWER"},
        {"id": 2, "reward": -1.0, "why": "source"},  # refused: postprocess gets the refusal
    ]
