"""Resume after a kill: a pipeline killed at about half, run again, against a clean run of the rest.

HumanEval's 164 canonical solutions (``bench_warm.humaneval_programs``) repeated
to ``--rows`` rows with distinct ids, in Parquet files, through the processor
with Ray Data's ``CheckpointConfig`` (the README's resume recipe), each run in a
process of its own, as a user's script runs:

1. the pipeline, killed with SIGKILL (its whole process group) once about half
   the rows are committed to the checkpoint;
2. the same pipeline again, on the same checkpoint: it writes only the rest;
3. a clean pipeline over only the rows the first run had not committed (new
   source, output and checkpoint), the baseline.

Each run pays its own start (a local Ray, the executor, Ray Data's actors). The
figure is the second run's time against the third's, and the rows each executed.

Run: ``python -m benchmarks.bench_resume [--rows 2000] [--batch-size 64]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

FILES = 8
MARK = "FABER_RAY_BENCH_RESUME"


def pipeline(source: str, output: str, checkpoint: str, batch_size: int) -> None:
    """One run of the recipe (what the subprocesses execute); prints the tasks its executor ran."""
    import ray.data
    from ray.data import DataContext
    from ray.data.checkpoint import CheckpointConfig

    from faber_ray.data import SandboxProcessorConfig, build_sandbox_processor

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.checkpoint_config = CheckpointConfig(id_column="id", checkpoint_path=checkpoint)
    config = SandboxProcessorConfig(concurrency=2, batch_size=batch_size, id_column="id",
                                    executor_config={"sandbox_mode": "warm", "dedupe": False})
    with build_sandbox_processor(config) as processor:
        processor(ray.data.read_parquet(source)).write_parquet(output)
        print(json.dumps({"executed": processor.stats().total}), flush=True)


def committed(checkpoint: Path) -> set[str]:
    """Ids whose output the checkpoint holds (a file being written is skipped)."""
    ids: set[str] = set()
    for path in checkpoint.glob("*.parquet") if checkpoint.is_dir() else []:
        try:
            ids.update(pq.read_table(path, columns=["id"]).column("id").to_pylist())
        except (OSError, pa.ArrowInvalid):
            continue
    return ids


def write_rows(rows: list[dict[str, object]], directory: Path) -> None:
    directory.mkdir()
    per_file = -(-len(rows) // FILES)
    for part in range(FILES):
        chunk = rows[part * per_file:(part + 1) * per_file]
        if chunk:
            pq.write_table(pa.Table.from_pylist(chunk), directory / f"part-{part}.parquet")


def marked_processes(mark: str) -> list[int]:
    """Pids of one run (the driver and the Ray it started), by a variable in their environment."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def start(source: Path, output: Path, checkpoint: Path, batch_size: int) -> tuple[subprocess.Popen[str], str]:
    mark = uuid.uuid4().hex
    command = [sys.executable, "-m", "benchmarks.bench_resume", "--pipeline",
               str(source), str(output), str(checkpoint), str(batch_size)]
    process = subprocess.Popen(command, env={**os.environ, MARK: mark}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    return process, mark


def finish(process: subprocess.Popen[str]) -> int:
    out, err = process.communicate(timeout=3600)
    if process.returncode != 0:
        raise SystemExit(f"a pipeline run failed:\n{err[-3000:]}")
    return int(json.loads(out.strip().splitlines()[-1])["executed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--pipeline", nargs=4, metavar=("SOURCE", "OUTPUT", "CHECKPOINT", "BATCH"))
    args = parser.parse_args()
    if args.pipeline:
        source, output, checkpoint, batch = args.pipeline
        pipeline(source, output, checkpoint, int(batch))
        return

    from benchmarks.bench_warm import humaneval_programs

    programs = humaneval_programs()
    rows = [{"id": f"he-{n}", "command": "python3", "args": ["-c", programs[n % len(programs)]]}
            for n in range(args.rows)]
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        write_rows(rows, root / "in")
        print(f"HumanEval: {len(programs)} programs repeated to {len(rows)} rows, {FILES} Parquet files, "
              f"2 actors x {args.batch_size} rows, warm")

        started = time.perf_counter()
        first, mark = start(root / "in", root / "out", root / "checkpoint", args.batch_size)
        while first.poll() is None and len(committed(root / "checkpoint")) < len(rows) // 2:
            time.sleep(0.2)
        if first.poll() is not None:
            raise SystemExit("the first run ended before half its rows were committed")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        killed_after = time.perf_counter() - started
        while marked_processes(mark):  # its Ray's watchdog ends the rest of it
            time.sleep(0.5)
        done = committed(root / "checkpoint")
        rest = [row for row in rows if row["id"] not in done]
        print(f"  first run, killed with SIGKILL after {killed_after:6.2f} s: {len(done)} rows committed, "
              f"{len(rest)} left")

        started = time.perf_counter()
        again, _ = start(root / "in", root / "out", root / "checkpoint", args.batch_size)
        executed = finish(again)
        resumed = time.perf_counter() - started
        written = pq.read_table(root / "out", columns=["id"]).column("id").to_pylist()
        assert sorted(written) == sorted(row["id"] for row in rows), "an id is missing or written twice"
        print(f"  second run, same checkpoint:  {resumed:6.2f} s, {executed} rows executed")

        write_rows(rest, root / "rest")
        started = time.perf_counter()
        clean, _ = start(root / "rest", root / "rest-out", root / "rest-checkpoint", args.batch_size)
        clean_executed = finish(clean)
        baseline = time.perf_counter() - started
        print(f"  clean run of the {len(rest)} rows left: {baseline:6.2f} s, {clean_executed} rows executed")
        print(f"  resume / clean = {resumed / baseline:.2f}x the time")


if __name__ == "__main__":
    main()
