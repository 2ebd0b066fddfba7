"""The ``faber-ray`` command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

import ray
from pydantic import TypeAdapter, ValidationError

from faber_ray import __version__
from faber_ray.cli import commands, images, serve
from faber_ray.models import ByteCount, Count, parse_byte_count

__all__ = ["build_parser", "main"]

_ADDRESS_HELP = "Ray address of a cluster with a shared executor (`auto`, or host:port); default: a private executor on a local Ray"


_BYTE_COUNT: TypeAdapter[int] = TypeAdapter(ByteCount)
_COUNT: TypeAdapter[int] = TypeAdapter(Count)


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(f"{value[:20]}...{value[-10:]}") + f" ({len(value)} characters)"


def _bytes(value: str) -> int:
    """A size flag, read by the rules of a task's own sizes (``ByteCount``): a refusal is argparse's sentence."""
    try:
        size = parse_byte_count(value)
    except ValueError as error:  # a size string with more digits than any size has
        raise argparse.ArgumentTypeError(f"{_shown(value)}: {error}") from None
    if size is value:  # not a size string at all
        raise argparse.ArgumentTypeError(f"{_shown(value)} is not a size; write e.g. 268435456, 256m or 1g")
    return _checked(_BYTE_COUNT, value)


def _count(value: str) -> int:
    """A whole-number flag, read as a task's counts are (``Count``)."""
    return _checked(_COUNT, value)


def _checked(adapter: TypeAdapter[int], value: str) -> int:
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        raise argparse.ArgumentTypeError(f"{_shown(value)}: {error.errors()[0]['msg']}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faber-ray",
        description="Run commands in locked-down Docker sandboxes, on one machine or a Ray cluster.",
    )
    parser.add_argument("--version", action="version", version=f"faber-ray {__version__}")
    sub = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run one command in a sandbox", description="Run one command in a sandbox (warm by default: a container kept for tasks like it, proven "
        "clean between them; the config's sandbox_mode: fresh makes one for this command alone). "
        "Prints its stdout and stderr, then a status line on stderr. Exits with the command's exit code when it "
        "ran to its end (SUCCESS, FAILURE); otherwise with the status's code: 124 TIMEOUT, 137 MEMORY_LIMIT_EXCEEDED, "
        "152 CPU_LIMIT_EXCEEDED, 153 OUTPUT_LIMIT_EXCEEDED, 125 ERROR (the sandbox failed), 130 CANCELLED "
        "(also on Ctrl-C, which cancels the task and removes its sandbox). Data piped or redirected into "
        "faber-ray goes to the command's stdin.",
        epilog="example: faber-ray run --timeout 5 --memory 256m -- python -c \"print('hi')\"",
    )
    run.add_argument("--image", help="sandbox image (default from the config: faber-ray/python:3)")
    run.add_argument("--timeout", type=float, help="wall-clock seconds")
    run.add_argument("--cpu-time", type=float, help="CPU seconds over all processes")
    run.add_argument("--memory", type=_bytes, help="memory limit, e.g. 256m")
    run.add_argument("--max-processes", type=_count, help="processes and threads at once")
    run.add_argument("--max-output", type=_bytes, help="bytes kept per stream, e.g. 1m")
    run.add_argument("--disk", type=_bytes, help="writable space, e.g. 64m")
    run.add_argument("--file", action="append", default=[], metavar="NAME=PATH",
                     help="copy the local file PATH into the sandbox's working directory as NAME (repeatable)")
    run.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="environment variable (repeatable)")
    run.add_argument("--stdin", metavar="PATH",
                     help="feed this file to the command's stdin (- reads faber-ray's own stdin, even a terminal); "
                     "without it, piped or redirected input is sent")
    run.add_argument("--network", action="store_true", help="allow network access (only if the config allows it)")
    run.add_argument("--language", metavar="NAME",
                     help="compile (if needed) and run the source file given instead of a command, e.g. "
                     "--language cpp main.cpp; the limits apply to the runs, the compile gets the language's own")
    run.add_argument("--input", action="append", default=[], metavar="FILE",
                     help="with --language: run once per input file, as its stdin (repeatable); one block each")
    run.add_argument("--json", action="store_true", help="print the whole TaskResult as JSON instead")
    run.add_argument("--address", help=_ADDRESS_HELP)
    run.add_argument("--direct", action="store_true",
                     help="skip Ray and run through the local Docker engine in this process (fastest for one-offs)")
    run.add_argument("--config", metavar="FILE", help="ExecutorConfig YAML (default: FABER_RAY_CONFIG, then "
                     "FABER_RAY_* variables); not with --address, where the shared executor's config applies")
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS", help="the command to run")
    run.set_defaults(func=commands.cmd_run)

    batch = sub.add_parser(
        "batch", help="run a JSONL (or Parquet) file of tasks with live progress",
        description="Run every task of a JSONL file (one Task object per line, e.g. "
        '{"command": "python", "args": ["-c", "print(1)"]}). Results are written as JSON lines as they finish, '
        "each with the task's line number, so an interrupted run keeps what it finished; with -o, the execution "
        "ids of submitted tasks go to RESULTS.jsonl.submitted until the batch ends, so --resume can pick up "
        "their results. A malformed line stops the batch before anything runs, and every bad line is reported "
        "with its number. Exits 0 when every task succeeded, 1 when any did not, 2 when the batch was refused "
        "before anything ran, 130 on Ctrl-C. When TASKS or -o ends in .parquet, the file goes through the Ray Data "
        "processor instead: each row (a 'task' column, the language form's columns, or a task's own) gives its "
        "task, and OUT.parquet is a directory of the input rows plus the result's columns; a refused row gets "
        "the status REFUSED and the batch goes on.",
    )
    batch.add_argument("tasks", metavar="TASKS.jsonl", help="the task file (- for stdin)")
    batch.add_argument("-o", "--output", metavar="RESULTS.jsonl", help="where results go (default: stdout)")
    batch.add_argument("--address", help=_ADDRESS_HELP)
    batch.add_argument("--config", metavar="FILE", help="ExecutorConfig YAML for a private executor (not with --address)")
    batch.add_argument("--resume", action="store_true",
                       help="continue an interrupted batch: keep the results in -o, pick up the tasks it had "
                       "submitted from the shared executor, run the other lines")
    batch.add_argument("--id-column", metavar="NAME",
                       help="with Parquet (TASKS or -o ending in .parquet): the column that identifies each row; "
                       "with -o OUT.parquet a checkpoint of the rows written is kept in OUT.parquet.checkpoint, so "
                       "--resume runs only the rows not written yet")
    batch.add_argument("--no-progress", action="store_true", help="plain progress lines even on a terminal")
    batch.set_defaults(func=commands.cmd_batch)

    start = sub.add_parser("start", help="start the cluster's shared executor",
                           description="Create the named, detached executor that every driver of the cluster can "
                           "share (faber_ray.connect()). Harmless when one is already running.")
    start.add_argument("--address", default="auto", help="Ray address (default: auto)")
    start.add_argument("--config", metavar="FILE", help="ExecutorConfig YAML")
    start.set_defaults(func=commands.cmd_start)

    stop = sub.add_parser("stop", help="stop the shared executor and remove its containers",
                          description="Shut the cluster's shared executor down: queued tasks are cancelled, running "
                          "ones killed, and every container its workers started is removed. Harmless when none runs.")
    stop.add_argument("--address", default="auto", help="Ray address (default: auto)")
    stop.set_defaults(func=commands.cmd_stop)

    for name, func, text in (
        ("stats", commands.cmd_stats, "the shared executor's statistics"),
        ("cluster", commands.cmd_cluster, "the shared executor's nodes, workers and usage"),
    ):
        view = sub.add_parser(name, help=f"print {text}", description=f"Print {text}.")
        view.add_argument("--address", default="auto", help="Ray address (default: auto)")
        view.add_argument("--json", action="store_true", help="print JSON")
        view.set_defaults(func=func)

    images.register(sub)
    serve.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    ours = not ray.is_initialized()  # a caller's own Ray (main called in-process) is the caller's to end
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("faber-ray: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT
    except BrokenPipeError:
        # `faber-ray cluster | head`: the reader has gone, which is not the cluster's fault. Say nothing, and
        # keep Python from failing again while flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports it
    except Exception as error:  # noqa: BLE001 - every failure ends as one readable sentence
        print(f"faber-ray: error: {commands.describe_error(error)}", file=sys.stderr)
        return commands.EXIT_REFUSED
    finally:
        # Ray's own shutdown at exit would turn a Ctrl-C pressed now into a traceback: the command's work is
        # done and its exit code decided, so Ray is ended here, deaf to a late Ctrl-C.
        if ours and ray.is_initialized():
            deaf = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if deaf else None
            try:
                ray.shutdown()
            finally:
                if deaf:
                    signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
