"""``faber-ray run``: one command in one sandbox, through an executor or straight to the local engine.

Ctrl-C cancels the task, so its container is removed: through the executor's
``cancel`` (a private executor is then shut down as well), or, with
``--direct``, through the runner, whose own thread removes the container
while this one only waits. Either way ``run`` ends with the CANCELLED result
and exits 130.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError

from faber_ray.cli.render import status_line
from faber_ray.cli.session import local_config, open_executor
from faber_ray.cli.tracking import interrupts_deferred, pending_ids, submit_tracked
from faber_ray import languages
from faber_ray.config import ExecutorConfig
from faber_ray.errors import TaskValidationError
from faber_ray.models import OutputChunk, ResourceLimits, Task, TaskResult, TaskStatus
from faber_ray.validation import validate_task

__all__ = ["EXIT_BY_STATUS", "cmd_run", "exit_code_for", "task_from_args"]

#: Exit codes of `faber-ray run` where the status, not the command's own code,
#: says what happened (a killed command's code is 137 whoever killed it).
EXIT_BY_STATUS = {
    TaskStatus.TIMEOUT: 124,  # as coreutils `timeout`
    TaskStatus.MEMORY_LIMIT_EXCEEDED: 137,  # 128 + SIGKILL, how an OOM kill looks in a shell
    TaskStatus.CPU_LIMIT_EXCEEDED: 152,  # 128 + SIGXCPU, the signal of RLIMIT_CPU
    TaskStatus.OUTPUT_LIMIT_EXCEEDED: 153,  # 128 + SIGXFSZ, the nearest signal: a size limit
    TaskStatus.CANCELLED: 130,  # 128 + SIGINT
    TaskStatus.ERROR: 125,  # the sandbox failed, as `docker run` does
}
#: How long an interrupted `run` waits for the CANCELLED result.
_CANCEL_WAIT = 60.0


def exit_code_for(result: TaskResult) -> int:
    """SUCCESS and FAILURE exit with the command's code; every other status with its own. Only SUCCESS exits 0."""
    if result.status is TaskStatus.SUCCESS:
        return result.exit_code or 0
    if result.status is TaskStatus.FAILURE:
        return result.exit_code or 1
    return EXIT_BY_STATUS.get(result.status, 1)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise TaskValidationError(f"{option} takes NAME=VALUE, got '{value}'", field=option)
        pairs[name] = rest
    return pairs


def _read(path: str, field: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise TaskValidationError(f"cannot read {path}: {error.strerror}", field=field) from None


def _piped_stdin() -> bytes | None:
    """What was piped or redirected into faber-ray (a pipe, a file, a socket); None for a
    terminal or a device such as /dev/null, which the command should not wait on."""
    try:
        mode = os.fstat(0).st_mode
    except OSError:  # no stdin at all
        return None
    if not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode)):
        return None
    with open(0, "rb", closefd=False) as stream:
        return stream.read()


def _split_inputs(words: list[str]) -> tuple[list[str], list[str]]:
    """``main.cpp --input a --input=b`` -> (["main.cpp"], ["a", "b"]): options may follow the source."""
    rest, inputs, position = [], [], 0
    while position < len(words):
        word = words[position]
        if word == "--input" and position + 1 < len(words):
            inputs.append(words[position + 1])
            position += 2
            continue
        if word.startswith("--input="):
            inputs.append(word.split("=", 1)[1])
        else:
            rest.append(word)
        position += 1
    return rest, inputs


def _language_task(args: argparse.Namespace, limits: ResourceLimits) -> Task:
    args.command, more = _split_inputs(args.command)
    args.input = [*args.input, *more]
    if len(args.command) != 1:
        raise TaskValidationError(
            "with --language give one source file, e.g. faber-ray run --language cpp main.cpp", field="source"
        )
    source = _read(args.command[0], "source")
    inputs = [_read(path, "inputs").decode(errors="replace") for path in args.input] or None
    stdin = None if inputs else (_read(args.stdin, "stdin") if args.stdin and args.stdin != "-" else _piped_stdin())
    files = {name: _read(path, f"files.{name}") for name, path in _pairs(args.file, "--file").items()}
    return languages.task(
        args.language, source, stdin=stdin, inputs=inputs, files=files or None,
        limits=limits if limits.model_dump(exclude_none=True) else None,
    )


def task_from_args(args: argparse.Namespace) -> Task:
    limits = ResourceLimits(
        timeout=args.timeout, cpu_time=args.cpu_time, memory=args.memory,
        max_processes=args.max_processes, max_output=args.max_output, disk=args.disk,
    )
    if getattr(args, "language", None):
        return _language_task(args, limits)
    if args.input:
        raise TaskValidationError("--input goes with --language; for a command use --stdin", field="inputs")
    if not args.command:
        raise TaskValidationError("command is empty; put it after `--`, e.g. faber-ray run -- echo hi", field="command")
    files: dict[str, str | bytes] = {
        name: _read(path, f"files.{name}") for name, path in _pairs(args.file, "--file").items()
    }
    if args.stdin == "-":
        stdin: bytes | None = sys.stdin.buffer.read()
    elif args.stdin:
        stdin = _read(args.stdin, "stdin")
    else:
        stdin = _piped_stdin()
    return Task(
        command=args.command[0], args=args.command[1:] or None, env=_pairs(args.env, "--env") or None,
        files=files or None, stdin=stdin, image=args.image, limits=limits, network=args.network,
    )


def cmd_run(args: argparse.Namespace) -> int:
    task = task_from_args(args)
    # Output is printed as it is written, except for --json (one document at the end) and a
    # language task run against inputs, which prints one block per input once it ends.
    live = not args.json and not (getattr(args, "language", None) and args.input)
    if args.direct:
        result = _run_direct(task, ExecutorConfig.load(args.config), live)
    else:
        result = _run_on_executor(task, args.address, local_config(args.address, args.config), live)
    if result is None:  # interrupted, and no result came back (the reason is printed)
        return EXIT_BY_STATUS[TaskStatus.CANCELLED]
    if args.json:
        print(result.model_dump_json(indent=2))
    elif not live:
        _print_steps(result, args)
    else:
        print(status_line(result, exit_code_for(result), _step_names(args)), file=sys.stderr)
    return exit_code_for(result)


def _step_names(args: argparse.Namespace) -> list[str] | None:
    """A language task's steps as people call them: "compile", then "input 2 (t1.txt)" or "the run"."""
    if not getattr(args, "language", None):
        return None
    inputs = args.input or []
    runs = [f"input {number + 1} ({name})" for number, name in enumerate(inputs)] if inputs else ["the run"]
    return (["compile"] if languages.language(args.language).compile is not None else []) + runs


def _write_live(_step: int | None, stream: str, data: bytes) -> None:
    """Print a chunk of the task's output the moment it arrives."""
    out = sys.stdout if stream == "stdout" else sys.stderr
    out.buffer.write(data)
    out.flush()


def _print_steps(result: TaskResult, args: argparse.Namespace) -> None:
    """A language task: the compiler's words if it said any, then one block per run (per input)."""
    steps = result.steps or []
    compiled = bool(steps) and languages.language(args.language).compile is not None
    if compiled:
        sys.stderr.write(steps[0].stderr)
        if steps[0].status is not TaskStatus.SUCCESS:
            sys.stdout.write(steps[0].stdout)
    runs = steps[1:] if compiled else steps
    names = args.input or [None]
    for number, step in enumerate(runs):
        if len(names) > 1 or args.input:
            label = f"input {number + 1}" + (f" ({names[number]})" if number < len(names) and names[number] else "")
            exit_note = f", exit {step.exit_code}" if step.exit_code is not None else ""
            print(f"==> {label}: {step.status.value}{exit_note}", flush=True)
        sys.stdout.write(step.stdout)
        sys.stdout.flush()
        sys.stderr.write(step.stderr)
    print(status_line(result, exit_code_for(result), _step_names(args)), file=sys.stderr)


def _interrupted(why: str) -> None:
    print(f"faber-ray: interrupted; {why}", file=sys.stderr)


def _run_on_executor(task: Task, address: str | None, config: ExecutorConfig | None, live: bool) -> TaskResult | None:
    executor, _, private = open_executor(address, config)
    with interrupts_deferred():  # the id is always known before Ctrl-C can act on it
        refs, ids = submit_tracked(executor, [task])
    try:
        if live and ids[0] is not None:
            for ref in executor.watch.remote(ids[0]):
                item = ray.get(ref)
                if isinstance(item, OutputChunk):
                    _write_live(item.step, item.stream, item.data)
        return ray.get(refs[0])  # type: ignore[no-any-return]
    except KeyboardInterrupt:
        _interrupted("cancelling the task")
        with interrupts_deferred():
            return _cancel(executor, refs[0], ids[0], private)


def _cancel(executor: Any, ref: ray.ObjectRef, execution_id: str | None, private: bool) -> TaskResult | None:
    """Cancel the task (which kills and removes its container) and return its CANCELLED result."""
    # A private executor runs this task alone, so whatever it has pending is ours.
    targets = [execution_id] if execution_id else pending_ids(executor) if private else []
    try:
        if not targets:
            _interrupted(
                "the task keeps running on the shared executor: its execution id could not be told apart "
                "from another client's task submitted at the same moment"
            )
            return None
        for target in targets:
            ray.get(executor.cancel.remote(target))
        return ray.get(ref, timeout=_CANCEL_WAIT)  # type: ignore[no-any-return]
    except GetTimeoutError:
        _interrupted(f"the task was cancelled, but its result did not come within {_CANCEL_WAIT:.0f} s")
        return None
    finally:
        if private:
            ray.get(executor.shutdown.remote())  # whatever is left, containers included, goes


def _run_direct(task: Task, config: ExecutorConfig, live: bool) -> TaskResult | None:
    """Run in this process through the sandbox core: no Ray, for one-off use on a Docker host.

    The runner works in its own thread; this one waits, so that Ctrl-C lands
    here and never inside the runner's bookkeeping, and cancels from here.
    """
    from faber_ray.ids import new_execution_id
    from faber_ray.sandbox.runner import SandboxRunner

    checked = validate_task(task, config)
    runner = SandboxRunner(config)
    execution_id = new_execution_id()
    results: list[TaskResult] = []
    done = threading.Event()  # not Thread.join: a join that Ctrl-C interrupts can misreport the thread as ended

    def run() -> None:
        try:
            results.append(runner.run(checked, execution_id, listener=_write_live if live else None, checked=True))
        finally:
            done.set()

    threading.Thread(target=run, name="faber-ray-run", daemon=True).start()
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        _interrupted("cancelling the task")
        with interrupts_deferred():
            runner.cancel(execution_id, before_start=True)
            done.wait(_CANCEL_WAIT)
    if not results:
        _interrupted(f"the sandbox did not stop within {_CANCEL_WAIT:.0f} s")
        return None
    return results[0]
