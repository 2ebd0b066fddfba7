"""The README's Parquet-to-Parquet pipeline runs as pasted, in a fresh directory, as a script of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from cli_support import DEADLINE, sandbox_dirs

README = Path(__file__).resolve().parents[2] / "README.md"


def _pipeline() -> str:
    section = README.read_text().split("## Datasets: a sandboxed Ray Data processor", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "the Datasets section has no Python snippet"
    return found.group(1)


def test_the_readme_pipeline_runs_as_pasted(tmp_path: Path) -> None:
    code = _pipeline()
    assert len(code.strip().splitlines()) <= 10
    with sandbox_dirs() as box:
        ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=box.env(), stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=DEADLINE * 2)
    assert ran.returncode == 0, ran.stderr[-3000:]
    rows = {row["id"]: row for row in pq.read_table(tmp_path / "scored.parquet").to_pylist()}
    assert {n: (row["verdict"], row["score"]) for n, row in rows.items()} == {
        1: ("WRONG_ANSWER", 0.0), 2: ("ACCEPTED", 3.0), 3: ("WRONG_ANSWER", 0.0)}
    assert "ACCEPTED" in ran.stdout
