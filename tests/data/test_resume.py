"""Resume: a pipeline writing with Ray Data's ``CheckpointConfig`` is killed with SIGKILL midway and run again.

Every id ends up in the output exactly once, and the second run executes no
more than the rows that had not been written, plus one batch (counted by the
second run's own executor, whose ``stats().total`` is every task it ran).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from cli_support import DEADLINE, poll, sandbox_dirs
from cli_support import _processes_under as processes_under

SCRIPT = Path(__file__).with_name("resume_pipeline.py")
ROWS, FILES, BATCH = 240, 4, 16


def _committed(checkpoint: Path) -> set[str]:
    """The ids of the rows whose output is committed (a pending checkpoint's rows may yet be undone)."""
    if not checkpoint.is_dir():
        return set()
    ids: set[str] = set()
    for path in checkpoint.iterdir():
        if path.suffix == ".parquet":
            try:
                ids.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
            except (OSError, pa.ArrowInvalid):  # being written right now
                continue
    return ids


def test_a_pipeline_killed_midway_and_run_again_writes_every_row_once_and_runs_only_the_rest(tmp_path: Path) -> None:
    source, output, checkpoint = tmp_path / "in", tmp_path / "out", tmp_path / "checkpoint"
    source.mkdir()
    per_file = ROWS // FILES
    for part in range(FILES):
        pq.write_table(pa.Table.from_pylist([
            {"id": f"row-{n}", "command": "sh", "args": ["-c", f"sleep 0.1; echo {n}"]}
            for n in range(part * per_file, (part + 1) * per_file)
        ]), source / f"part-{part}.parquet")
    command = [sys.executable, str(SCRIPT), str(source), str(output), str(checkpoint), str(BATCH)]

    with sandbox_dirs() as box:
        first = subprocess.Popen(command, env=box.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            done = poll(lambda: first.poll() is not None or len(_committed(checkpoint)) >= 2 * BATCH,
                        "the first run to commit two batches")
            assert first.poll() is None, f"the first run ended before it could be killed: {first.communicate()}"
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        assert done
        # Its local Ray's watchdog ends what is left of it; then nothing more can be committed.
        poll(lambda: not processes_under(box.root), "the killed run's Ray to end", every=0.5)
        written = _committed(checkpoint)
        assert 2 * BATCH <= len(written) < ROWS

        started = time.monotonic()
        second = subprocess.run(command, env=box.env(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=DEADLINE * 2)
        assert second.returncode == 0, second.stderr[-3000:]
        executed = json.loads(second.stdout.strip().splitlines()[-1])["executed"]

    ids = pq.read_table(output, columns=["id", "status", "stdout"]).to_pylist()
    assert sorted(row["id"] for row in ids) == sorted(f"row-{n}" for n in range(ROWS))  # each exactly once
    assert all(row["status"] == "SUCCESS" and row["stdout"] == f"{row['id'][4:]}\n" for row in ids)
    left = ROWS - len(written)
    assert left - BATCH <= executed <= left + BATCH, (executed, left, time.monotonic() - started)
