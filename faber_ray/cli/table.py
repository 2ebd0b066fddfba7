"""``faber-ray batch IN -o OUT`` when IN or OUT is Parquet: the file goes through the Ray Data processor.

- IN ``*.parquet`` (a file or a directory of them) is read with Ray Data; IN of
  JSON lines, when OUT is Parquet, too (each line's keys become columns). Each
  row gives its task as :mod:`faber_ray.data.rows` says.
- OUT ``*.parquet`` is a directory that Ray Data writes, a file per block: each
  input row plus the result's columns. Any other OUT (or none: stdout) gets one
  JSON line per row.
- ``--id-column`` names a column that identifies each row. With it and a
  Parquet OUT, a checkpoint of the rows written is kept beside OUT
  (``OUT.checkpoint``), and ``--resume`` runs only the rows not written yet
  (Ray Data's ``CheckpointConfig``). Without ``--resume``, OUT and its
  checkpoint are replaced.

The exit code is batch's: 0 when every row's status is SUCCESS, 1 when any is
not (a refused row's status is REFUSED), 2 when nothing could run.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import IO, Any

from faber_ray.cli.session import local_config
from faber_ray.errors import TaskValidationError

__all__ = ["checkpoint_path", "cmd_batch_table", "is_table"]


def is_table(args: argparse.Namespace) -> bool:
    """True when IN or OUT is Parquet: what this module runs instead of the JSONL batch."""
    return any(str(path or "").rstrip("/").endswith(".parquet") for path in (args.tasks, args.output))


def checkpoint_path(output: str) -> str:
    """Where the rows written to ``output`` are recorded, for ``--resume``."""
    return f"{output.rstrip('/')}.checkpoint"


def _refuse(reason: str, option: str) -> TaskValidationError:
    return TaskValidationError(reason, field=option)


def _check(args: argparse.Namespace) -> None:
    parquet_out = str(args.output or "").rstrip("/").endswith(".parquet")
    if args.tasks == "-":
        raise _refuse("with Parquet, TASKS must be a file or a directory (stdin cannot be read by Ray Data)", "TASKS")
    if not Path(args.tasks).exists():
        raise _refuse(f"{args.tasks}: No such file or directory", "TASKS")
    if args.resume and not parquet_out:
        raise _refuse("--resume with Parquet needs -o OUT.parquet: its checkpoint says which rows were written",
                      "--resume")
    if args.resume and not args.id_column:
        raise _refuse("--resume with Parquet needs --id-column: the id of each row written is what it skips",
                      "--resume")
    if args.resume and not Path(checkpoint_path(args.output)).exists():
        raise _refuse(
            f"--resume found no checkpoint at {checkpoint_path(args.output)}: the first run needs --id-column",
            "--resume",
        )
    if args.output and not args.resume and parquet_out:
        existing = Path(args.output)
        if existing.is_file() or (existing.is_dir() and any(p.suffix != ".parquet" for p in existing.iterdir())):
            raise _refuse(f"{args.output} exists and is not a directory of Parquet files; it is left alone",
                          "--output")


def _read(ray_data: Any, path: str) -> Any:
    """Read with an absolute path: Ray's workers need not share the driver's working directory."""
    absolute = str(Path(path).resolve())
    if path.rstrip("/").endswith(".parquet") or Path(path).is_dir():
        return ray_data.read_parquet(absolute)
    return ray_data.read_json(absolute, lines=True)


def cmd_batch_table(args: argparse.Namespace) -> int:
    _check(args)
    import ray.data
    from ray.data import DataContext
    from ray.data.checkpoint import CheckpointConfig

    from faber_ray.data import SandboxProcessorConfig, build_sandbox_processor

    executor_config = local_config(args.address, args.config)
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # its INFO lines would bury the summary
    context = DataContext.get_current()
    context.enable_progress_bars = not args.no_progress and sys.stderr.isatty()
    parquet_out = str(args.output or "").rstrip("/").endswith(".parquet")
    if parquet_out and not args.resume:
        shutil.rmtree(args.output, ignore_errors=True)
        shutil.rmtree(checkpoint_path(args.output), ignore_errors=True)
    if parquet_out and args.id_column:
        # Kept after success: a second --resume then runs nothing instead of writing every row again.
        context.checkpoint_config = CheckpointConfig(
            id_column=args.id_column, checkpoint_path=str(Path(checkpoint_path(args.output)).resolve()),
            delete_checkpoint_on_success=False,
        )
    config = SandboxProcessorConfig(
        address=args.address, executor_config=executor_config, id_column=args.id_column,
    )
    with build_sandbox_processor(config) as processor:
        # Starts the executor (and a local Ray) before Ray Data would start a Ray of its own.
        before = processor.stats().total
        results = processor(_read(ray.data, args.tasks))
        if parquet_out:
            results.write_parquet(str(Path(args.output).resolve()))
            statuses = _statuses_written(args.output)
        else:
            statuses = _write_lines(results, args.output)
        ran = processor.stats().total - before  # a shared executor counts other drivers' tasks too
    print(_summary(statuses, args.output, ran), file=sys.stderr)
    return 0 if all(status == "SUCCESS" for status in statuses.elements()) else 1


def _statuses_written(output: str) -> Counter[str]:
    import pyarrow.parquet as pq

    return Counter(pq.read_table(output, columns=["status"]).column("status").to_pylist())


def _json_default(value: Any) -> Any:
    """Bytes (a binary column) as JSON carries them everywhere in faber-ray: base64."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _write_lines(results: Any, output: str | None) -> Counter[str]:
    statuses: Counter[str] = Counter()
    stream: IO[str] = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    try:
        for batch in results.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in batch.to_pylist():
                statuses[row.get("status")] += 1
                stream.write(json.dumps(row, default=_json_default) + "\n")
            stream.flush()
    finally:
        if stream is not sys.stdout:
            stream.close()
    return statuses


def _summary(statuses: Counter[str], output: str | None, ran: int) -> str:
    ordered = sorted(statuses.items(), key=lambda item: (item[0] != "SUCCESS", str(item[0])))
    counts = ", ".join(f"{count} {status}" for status, count in ordered)
    where = f" in {output}" if output else ""
    return f"faber-ray: {sum(statuses.values())} row(s){where}: {counts or 'none'}; {ran} task(s) ran in this run"

