"""The subcommands. Each takes the parsed arguments and returns the process exit code."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import ray

from faber_ray.cli.progress import ProgressBar
from faber_ray.cli.render import cluster_table, stats_table, status_line, summary_table
from faber_ray.cli.session import open_executor
from faber_ray.client import connect, start_shared, stop_shared
from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError, TaskValidationError, unwrap_error
from faber_ray.models import ResourceLimits, Task, TaskResult, TaskStatus
from faber_ray.validation import validate_task

__all__ = ["cmd_batch", "cmd_cluster", "cmd_run", "cmd_start", "cmd_stats", "cmd_stop"]

#: Exit codes of `faber-ray run` when the task has none of its own.
EXIT_NO_CODE = {TaskStatus.ERROR: 125, TaskStatus.CANCELLED: 130}
EXIT_REFUSED = 2


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise TaskValidationError(f"{option} takes NAME=VALUE, got '{value}'", field=option)
        pairs[name] = rest
    return pairs


def _task_from_args(args: argparse.Namespace) -> Task:
    if not args.command:
        raise TaskValidationError("command is empty; put it after `--`, e.g. faber-ray run -- echo hi", field="command")
    files: dict[str, str | bytes] = {}
    for name, path in _pairs(args.file, "--file").items():
        try:
            files[name] = Path(path).read_bytes()
        except OSError as error:
            raise TaskValidationError(f"cannot read {path}: {error.strerror}", field=f"files.{name}") from None
    stdin: bytes | None = None
    if args.stdin == "-":
        stdin = sys.stdin.buffer.read()
    elif args.stdin:
        stdin = Path(args.stdin).read_bytes()
    limits = ResourceLimits(
        timeout=args.timeout, cpu_time=args.cpu_time, memory=args.memory,
        max_processes=args.max_processes, max_output=args.max_output, disk=args.disk,
    )
    return Task(
        command=args.command[0], args=args.command[1:] or None, env=_pairs(args.env, "--env") or None,
        files=files or None, stdin=stdin, image=args.image, limits=limits, network=args.network,
    )


def cmd_run(args: argparse.Namespace) -> int:
    task = _task_from_args(args)
    if args.direct:
        result = _run_direct(task, args.config)
    else:
        executor, _, _ = open_executor(args.address, ExecutorConfig.load(args.config))
        result = ray.get(executor.execute.remote([task]))[0]
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
        print(status_line(result), file=sys.stderr)
    if result.exit_code is not None:
        return result.exit_code
    return EXIT_NO_CODE.get(result.status, 1)


def _run_direct(task: Task, config_path: str | None) -> TaskResult:
    """Run in this process through the sandbox core: no Ray, for one-off use on a Docker host."""
    from faber_ray.sandbox.runner import SandboxRunner

    config = ExecutorConfig.load(config_path)
    return SandboxRunner(config).run(validate_task(task, config))


def _read_tasks(path: str, config: ExecutorConfig) -> list[tuple[int, Task]]:
    """Parse and validate every line; report *all* bad lines at once, so nothing runs half a file."""
    source = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    tasks: list[tuple[int, Task]] = []
    problems: list[str] = []
    with source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(f"line {number}: not valid JSON ({error.msg} at column {error.colno})")
                continue
            try:
                tasks.append((number, validate_task(data, config, index=number)))
            except ExecutorError as error:
                where = f", field '{error.field}'" if error.field else ""
                problems.append(f"line {number}{where}: {error.reason}")
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise TaskValidationError(
            f"{len(problems)} line(s) of {path} are not valid tasks, so nothing was run:\n  {shown}{more}"
        )
    if not tasks:
        raise TaskValidationError(f"{path} holds no tasks")
    return tasks


def cmd_batch(args: argparse.Namespace) -> int:
    if args.address:
        executor, config, private = open_executor(args.address, ExecutorConfig())
        tasks = _read_tasks(args.tasks, config)
    else:  # check the file before paying for a local Ray
        config = ExecutorConfig.load(args.config)
        tasks = _read_tasks(args.tasks, config)
        executor, config, private = open_executor(None, config)
    output = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    progress = ProgressBar(len(tasks), sys.stderr, interactive=None if not args.no_progress else False)
    started = time.monotonic()
    refs = ray.get(executor.submit.remote([task for _, task in tasks]))
    line_of = {ref: number for ref, (number, _) in zip(refs, tasks)}
    pending = list(refs)
    results: list[TaskResult] = []
    try:
        while pending:
            # Block until one result is ready, then take every other one that already is.
            ready, pending = ray.wait(pending, num_returns=1)
            if pending:
                more, pending = ray.wait(pending, num_returns=len(pending), timeout=0)
                ready += more
            for ref, result in zip(ready, ray.get(ready)):
                results.append(result)
                record = {"line": line_of[ref], **result.model_dump(mode="json")}
                output.write(json.dumps(record) + "\n")
                output.flush()  # an interrupted run keeps every finished result
                progress.update(result.status.value)
    except KeyboardInterrupt:
        progress.close()
        print(f"faber-ray: interrupted; {len(results)} finished result(s) were written", file=sys.stderr)
        if private:
            ray.get(executor.shutdown.remote())
        return 130
    finally:
        if output is not sys.stdout:
            output.close()
    progress.close()
    print(summary_table(results, time.monotonic() - started), file=sys.stderr)
    if private:
        ray.get(executor.shutdown.remote())
    return 0 if all(result.status is TaskStatus.SUCCESS for result in results) else 1


def cmd_start(args: argparse.Namespace) -> int:
    config = ExecutorConfig.load(args.config)
    _, created = start_shared(config, args.address)
    if created:
        print("faber-ray: shared executor started; connect with faber_ray.connect() or --address")
    else:
        print("faber-ray: a shared executor is already running; nothing changed")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    removed = stop_shared(args.address)
    if removed is None:
        print("faber-ray: no shared executor was running")
    else:
        print(f"faber-ray: shared executor stopped; {removed} leftover container(s) removed")
    return 0


def _print_view(data: Any, text: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data.model_dump(mode="json") if hasattr(data, "model_dump") else data, indent=2))
    else:
        print(text)


def cmd_stats(args: argparse.Namespace) -> int:
    stats = ray.get(connect(args.address).stats.remote())
    _print_view(stats, stats_table(stats), args.json)
    return 0


def cmd_cluster(args: argparse.Namespace) -> int:
    view = ray.get(connect(args.address).cluster.remote())
    _print_view(view, cluster_table(view), args.json)
    return 0


def describe_error(error: BaseException) -> str:
    """One readable sentence for any error that reaches the command line."""
    error = unwrap_error(error)
    if isinstance(error, ExecutorError):
        return str(error)
    if isinstance(error, ray.exceptions.RayError):
        return f"the Ray cluster failed: {str(error).strip().splitlines()[0]}"
    if isinstance(error, ConnectionError):
        return f"could not reach the Ray cluster ({error}); is it running? (ray start --head)"
    return f"{type(error).__name__}: {error}"
