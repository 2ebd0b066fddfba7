"""Parquet in, Parquet out: through the processor in this driver, and through ``faber-ray batch`` as a user runs it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import pyarrow.parquet as pq
import ray.data
from cli_support import sandbox_dirs

from faber_ray.cli import main
from faber_ray.data import RESULT_SCHEMA, Processor
from faber_ray.data.rows import REFUSED

TESTS = [{"input": "4\n", "expected_output": "16\n"}]


def _write_input(path: Path, rows: int) -> list[dict[str, Any]]:
    """A Parquet file of language-form rows, one of them refused (an unknown language)."""
    table = [
        {"id": f"p{n}", "language": "python", "source": f"print(int(input()) ** 2 + {n % 2})", "tests": TESTS}
        for n in range(rows)
    ]
    table[3]["language"] = "klingon"
    pq.write_table(pa.Table.from_pylist(table), path)
    return table


def _want(row: dict[str, Any]) -> tuple[str, str | None]:
    if row["language"] == "klingon":
        return REFUSED, None
    return "SUCCESS", "ACCEPTED" if row["id"][1:].isdigit() and int(row["id"][1:]) % 2 == 0 else "WRONG_ANSWER"


def test_parquet_through_the_processor_keeps_the_input_columns_and_adds_typed_results(
    make_processor: Callable[..., Processor], tmp_path: Path
) -> None:
    rows = _write_input(tmp_path / "in.parquet", 40)
    processor = make_processor(batch_size=8, id_column="id")
    processor(ray.data.read_parquet(str(tmp_path / "in.parquet"))).write_parquet(str(tmp_path / "out.parquet"))

    table = pq.read_table(tmp_path / "out.parquet")
    for field in RESULT_SCHEMA:
        assert table.schema.field(field.name).type == field.type, field.name
    assert table.schema.field("tests").type == pq.read_table(tmp_path / "in.parquet").schema.field("tests").type
    out = {row["id"]: row for row in table.to_pylist()}
    assert sorted(out) == sorted(row["id"] for row in rows)
    for row in rows:
        got = out[row["id"]]
        assert (got["status"], got["verdict"]) == _want(row), got
        assert got["source"] == row["source"] and got["tests"] == row["tests"]
    assert "field 'language'" in out["p3"]["error"]


def test_faber_ray_batch_parquet_to_parquet_and_a_resume_that_finds_everything_written(tmp_path: Path) -> None:
    rows = _write_input(tmp_path / "in.parquet", 24)
    output = tmp_path / "out.parquet"
    with sandbox_dirs() as box:
        config = box.root / "config.yaml"
        config.write_text("sandbox_mode: warm\nmax_concurrent_tasks: 4\n")
        args = ["batch", str(tmp_path / "in.parquet"), "-o", str(output), "--id-column", "id", "--config", str(config)]
        first = box.cli(*args, "--no-progress", timeout=600)
        assert first.returncode == 1, first.stderr  # one row refused: not every row succeeded
        assert f"24 row(s) in {output}: 23 SUCCESS, 1 REFUSED; 23 task(s) ran in this run" in first.stderr, first.stderr
        out = {row["id"]: row for row in pq.read_table(output).to_pylist()}
        assert {row_id: (row["status"], row["verdict"]) for row_id, row in out.items()} == {
            row["id"]: _want(row) for row in rows}

        again = box.cli(*args, "--resume", "--no-progress", timeout=600)
        assert again.returncode == 1, again.stderr
        assert f"24 row(s) in {output}: 23 SUCCESS, 1 REFUSED; 0 task(s) ran in this run" in again.stderr, again.stderr
        assert pq.read_table(output).num_rows == 24


def test_batch_parquet_in_json_lines_out(
    quiet_data: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In this driver (main() leaves a caller's Ray running), on the session's cluster."""
    rows = _write_input(tmp_path / "in.parquet", 8)
    monkeypatch.setenv("FABER_RAY_MAX_CONCURRENT_TASKS", "4")
    assert main(["batch", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out.jsonl"), "--no-progress"]) == 1
    assert "8 row(s) in" in capsys.readouterr().err
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted((line["id"], line["status"], line["verdict"]) for line in lines) == sorted(
        (row["id"], *_want(row)) for row in rows)


def test_batch_refuses_what_parquet_mode_cannot_do_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_input(tmp_path / "in.parquet", 4)
    source = str(tmp_path / "in.parquet")
    cases = [
        (["batch", source, "-o", str(tmp_path / "out.parquet"), "--resume"], "--resume with Parquet needs --id-column"),
        (["batch", source, "-o", str(tmp_path / "out.jsonl"), "--resume", "--id-column", "id"],
         "--resume with Parquet needs -o OUT.parquet"),
        (["batch", source, "-o", str(tmp_path / "out.parquet"), "--resume", "--id-column", "id"],
         "--resume found no checkpoint"),
        (["batch", str(tmp_path / "missing.parquet")], "No such file or directory"),
        (["batch", str(tmp_path / "t.jsonl"), "--id-column", "id"], "--id-column applies when TASKS or -o is Parquet"),
    ]
    (tmp_path / "t.jsonl").write_text('{"command": "echo"}\n')
    for argv, sentence in cases:
        assert main(argv) == 2, argv
        assert sentence in capsys.readouterr().err, argv
