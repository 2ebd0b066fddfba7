"""``faber-ray batch``: a JSONL file of tasks, with live progress, results as they finish, and ``--resume``.

(When TASKS or ``-o`` is Parquet, :mod:`faber_ray.cli.table` runs the file through the Ray Data processor.)

With ``-o RESULTS.jsonl`` two files are written, a line at a time, each line
flushed at once:

- ``RESULTS.jsonl``: every finished result, ``{"line": n, ...the TaskResult}``;
- ``RESULTS.jsonl.submitted``: ``{"line": n, "execution_id": id}`` for every
  task handed to the executor, written right after the submit (Ctrl-C is held
  until it is). It is removed when the batch ends, and kept when it does not.

``--resume`` reads both. A line with a result is done. A line submitted but
without a result is picked up from the shared executor: its result from the
cache, or, while it still runs, when it ends. Every other line runs (again).
A private executor dies with its process, so its lines always run again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ray

from faber_ray import languages
from faber_ray.cli.progress import ProgressBar
from faber_ray.cli.render import summary_table
from faber_ray.cli.session import local_config, open_executor
from faber_ray.cli.table import cmd_batch_table, is_table
from faber_ray.cli.tracking import interrupts_deferred, pending_ids, submit_tracked
from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutionError, ExecutorError, TaskValidationError
from faber_ray.models import Task, TaskResult, TaskStatus
from faber_ray.validation import validate_task

__all__ = ["cmd_batch", "read_tasks", "submitted_path"]

#: Seconds between looks at tasks picked up from an earlier run.
_POLL = 0.5


def submitted_path(output: str) -> Path:
    return Path(f"{output}.submitted")


# Reading the task file ---------------------------------------------------------


def read_tasks(path: str, config: ExecutorConfig) -> list[tuple[int, Task]]:
    """Parse and validate every line; report *all* bad lines at once, so nothing runs half a file."""
    tasks: list[tuple[int, Task]] = []
    problems: list[str] = []
    try:
        with (contextlib.nullcontext(sys.stdin.buffer) if path == "-" else open(path, "rb")) as source:
            for number, raw in enumerate(source, start=1):
                problem = _read_line(number, raw, config, tasks)
                if problem:
                    problems.append(problem)
    except OSError as error:
        raise TaskValidationError(f"cannot read {path}: {error.strerror}") from None
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise TaskValidationError(
            f"{len(problems)} line(s) of {path} are not valid tasks, so nothing was run:\n  {shown}{more}"
        )
    if not tasks:
        raise TaskValidationError(f"{path} holds no tasks")
    return tasks


def _read_line(number: int, raw: bytes, config: ExecutorConfig, tasks: list[tuple[int, Task]]) -> str | None:
    """Append line ``number``'s task to ``tasks``, or return what is wrong with it."""
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as error:
        return f"line {number}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at byte {error.start + 1})"
    text = text.rstrip("\r\n")  # with the newline, an error at the end of the line is "line 2, column 1"
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return f"line {number}: not valid JSON ({error.msg} at column {error.colno})"  # 1-based characters
    except ValueError as error:  # a number of more digits than Python turns into an int (sys.int_info)
        return f"line {number}: not valid JSON here, a number is too long to read ({str(error).split(';')[0]})"
    try:
        tasks.append((number, validate_task(languages.from_json(data), config, index=number)))
    except ExecutorError as error:
        where = f", field '{error.field}'" if error.field else ""
        return f"line {number}{where}: {error.reason}"
    return None


# What an earlier run left -------------------------------------------------------


@dataclass
class Earlier:
    """What ``--resume`` finds: lines with a result (and its status), lines submitted without one."""

    done: dict[int, str] = field(default_factory=dict)
    submitted: dict[int, str] = field(default_factory=dict)

    @classmethod
    def read(cls, output: str) -> Earlier:
        earlier = cls()
        for record in _records(Path(output)):
            earlier.done[int(record["line"])] = str(record["status"])
        for record in _records(submitted_path(output)):
            earlier.submitted[int(record["line"])] = str(record["execution_id"])  # the last entry wins
        return earlier


def _records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` (none if it is missing). A last line cut short by an
    interrupted write is removed from the file, so that appending starts clean."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise ExecutionError(f"cannot read {path}: {error.strerror}") from None
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with path.open("r+b") as stream:
            stream.truncate(len(data))
    records = []
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            record = json.loads(line)
            int(record["line"])
        except (ValueError, KeyError, TypeError):
            raise ExecutionError(
                f"line {number} of {path} is not a record faber-ray wrote, so --resume cannot tell what ran"
            ) from None
        records.append(record)
    return records


class _Recorder:
    """Writes results (and, with a file, submissions), one flushed line each."""

    def __init__(self, output: str | None, append: bool) -> None:
        mode = "a" if append else "w"
        self.output = output
        self._results: IO[str] = open(output, mode, encoding="utf-8") if output else sys.stdout  # noqa: SIM115
        self._submitted = open(submitted_path(output), mode, encoding="utf-8") if output else None  # noqa: SIM115

    def submitted(self, pairs: Iterable[tuple[int, str | None]]) -> None:
        if self._submitted is not None:
            for number, execution_id in pairs:
                if execution_id is not None:
                    self._submitted.write(json.dumps({"line": number, "execution_id": execution_id}) + "\n")
            self._submitted.flush()

    def result(self, number: int, result: TaskResult) -> None:
        self._results.write(json.dumps({"line": number, **result.model_dump(mode="json")}) + "\n")
        self._results.flush()  # an interrupted run keeps every finished result

    def close(self, finished: bool) -> None:
        if self._results is not sys.stdout:
            self._results.close()
        if self._submitted is not None:
            self._submitted.close()
            if finished and self.output:
                submitted_path(self.output).unlink(missing_ok=True)


# Running ------------------------------------------------------------------------


class _Run:
    """One pass over the lines still to do: submit, pick up, collect, record."""

    def __init__(
        self, executor: Any, lines: dict[int, Task], picked: dict[str, int], recorder: _Recorder, progress: ProgressBar
    ) -> None:
        self.executor = executor
        self.lines = lines
        self.picked = picked  # execution id from an earlier run -> line
        self.recorder = recorder
        self.progress = progress
        self.results: list[TaskResult] = []
        self.refs: dict[ray.ObjectRef, int] = {}  # ref -> line
        self._missing: set[str] = set()
        self.untracked = 0

    def submit(self, lines: list[tuple[int, Task]]) -> None:
        if not lines:
            return
        numbers = [number for number, _ in lines]
        with interrupts_deferred():  # a task is never handed over without its id written down
            refs, ids = submit_tracked(self.executor, [task for _, task in lines])
            self.recorder.submitted(zip(numbers, ids))
            self.refs.update(zip(refs, numbers))
            self.untracked += sum(execution_id is None for execution_id in ids)

    def run(self) -> None:
        self.submit([(number, task) for number, task in self.lines.items() if number not in self.picked.values()])
        while self.refs or self.picked:
            if self.refs:
                # Block until one result is ready (or it is time to look at the picked-up
                # tasks), then take every other one that already is.
                ready, rest = ray.wait(list(self.refs), num_returns=1, timeout=_POLL if self.picked else None)
                if ready and rest:
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    ready += more
                for ref, result in zip(ready, ray.get(ready)):
                    self._record(self.refs.pop(ref), result)
            else:
                time.sleep(_POLL)
            if self.picked:
                self.submit([(number, self.lines[number]) for number in self._look_at_picked()])

    def _look_at_picked(self) -> list[int]:
        """Record picked-up results that are ready; return the lines whose task is gone (to run again)."""
        still = set(pending_ids(self.executor))
        ended = [execution_id for execution_id in self.picked if execution_id not in still]
        gone = []
        for execution_id, result in zip(ended, ray.get([self.executor.get_result.remote(i) for i in ended])):
            if result is not None:
                self._record(self.picked.pop(execution_id), result)
            elif execution_id in self._missing:  # twice neither pending nor cached: evicted, or never known
                gone.append(self.picked.pop(execution_id))
            else:  # may be between pending() and the cache for a moment: look once more
                self._missing.add(execution_id)
        return gone

    def _record(self, number: int, result: TaskResult) -> None:
        self.recorder.result(number, result)
        self.results.append(result)
        self.progress.update(result.status.value)


def cmd_batch(args: argparse.Namespace) -> int:
    if is_table(args):
        return cmd_batch_table(args)
    if getattr(args, "id_column", None):
        raise TaskValidationError(
            "--id-column applies when TASKS or -o is Parquet; JSONL lines are known by their numbers",
            field="--id-column",
        )
    if args.resume and not args.output:
        raise TaskValidationError(
            "--resume needs -o RESULTS.jsonl: the results already written there say which lines are done",
            field="--resume",
        )
    private_config = local_config(args.address, args.config)
    executor = None
    if private_config is None:  # the shared executor's config decides what is valid
        executor, config, private = open_executor(args.address, None)
    else:  # check the file before paying for a local Ray
        config, private = private_config, True
    lines = read_tasks(args.tasks, config)
    earlier = Earlier.read(args.output) if args.resume else Earlier()
    todo = [(number, task) for number, task in lines if number not in earlier.done]
    if not todo:
        print(f"faber-ray: every line of {args.tasks} already has a result in {args.output}; nothing to run",
              file=sys.stderr)
        return _exit_code(earlier.done.values())
    if executor is None:
        executor, config, private = open_executor(None, config)
    picked = {} if private else {earlier.submitted[n]: n for n, _ in todo if n in earlier.submitted}
    if args.resume:
        print(f"faber-ray: resuming: {len(earlier.done)} line(s) already have a result, {len(picked)} to pick up "
              f"from the executor, {len(todo) - len(picked)} to run", file=sys.stderr)
    recorder = _Recorder(args.output, append=args.resume)
    progress = ProgressBar(len(todo), sys.stderr, interactive=None if not args.no_progress else False)
    run = _Run(executor, dict(todo), picked, recorder, progress)
    started = time.monotonic()
    finished = False
    try:
        run.run()
        finished = True
    except KeyboardInterrupt:
        progress.close()
        _say_interrupted(args, run, private)
        if private:
            with interrupts_deferred():  # its containers must go, even on a second Ctrl-C
                ray.get(executor.shutdown.remote())
        return 130
    finally:
        recorder.close(finished)
    progress.close()
    print(summary_table(run.results, time.monotonic() - started), file=sys.stderr)
    if earlier.done:
        print(f"{len(earlier.done)} earlier result(s) in {args.output} were kept", file=sys.stderr)
    if private:
        ray.get(executor.shutdown.remote())
    return _exit_code([*earlier.done.values(), *(result.status.value for result in run.results)])


def _exit_code(statuses: Iterable[str]) -> int:
    return 0 if all(status == TaskStatus.SUCCESS.value for status in statuses) else 1


def _say_interrupted(args: argparse.Namespace, run: _Run, private: bool) -> None:
    left = len(run.refs) + len(run.picked)
    resume = f"`faber-ray batch {args.tasks} -o {args.output}{' --address ' + args.address if args.address else ''} --resume`"
    if private:
        rest = f"the other {left} were cancelled" + (f"; {resume} runs them" if args.output else "")
    elif args.output:
        rest = f"{left} keep running on the shared executor, and {resume} picks up their results"
    else:
        rest = f"{left} keep running on the shared executor; their results stay in its cache"
    untracked = (
        f" ({run.untracked} could not be told apart from another client's tasks and would run again)"
        if run.untracked and args.output and not private else ""
    )
    print(f"faber-ray: interrupted; {len(run.results)} result(s) written; {rest}{untracked}", file=sys.stderr)
