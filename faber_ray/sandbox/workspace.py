"""Where a judged task's runs happen: a workspace brought back to a snapshot before each run, and the
helper programs (a custom checker, an interactor) in sandboxes of their own.

Split from :mod:`faber_ray.sandbox.judge` so that the interactive runs
(:mod:`faber_ray.sandbox.interactive`) use the same pieces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError, SandboxError
from faber_ray.judging.cases import Checker, TestCase
from faber_ray.judging.scoring import CHECKER_MESSAGE_BYTES, Judged, testlib_verdict
from faber_ray.languages import helper_limits, language
from faber_ray.models import TaskStatus
from faber_ray.sandbox.agent.channel import ChannelClosed
from faber_ray.sandbox.collection import collect
from faber_ray.sandbox.container import SandboxContainer
from faber_ray.sandbox.execution import Execution, NotStarted, RunRecord, run_once
from faber_ray.sandbox.outcome import judge_run
from faber_ray.sandbox.report import Outcome
from faber_ray.sandbox.streams import OutputBudget
from faber_ray.steps import Run

__all__ = ["CHECKER_FILES", "INTERACTOR_FILES", "CustomChecker", "Sandboxes", "Workspace", "file_bytes", "snapshot_of"]

#: The names a custom checker's three files have in its own workspace: ``checker input output answer``.
CHECKER_FILES = ("input.txt", "output.txt", "answer.txt")
#: An interactor's two: ``interactor input answer`` (the program's output is its stdin).
INTERACTOR_FILES = ("input.txt", "answer.txt")

# A Python checker that raises exits 1, which testlib reads as WRONG_ANSWER: run it so that a crash is
# exit 3 (JUDGE_ERROR), as a crashing compiled checker's signal is.
_PYTHON_CHECKER = (
    "import runpy, sys, traceback\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "except SystemExit:\n    raise\n"
    "except BaseException:\n    traceback.print_exc()\n    sys.exit(3)\n"
)


class Sandboxes(Protocol):
    """Where a custom checker's or an interactor's own sandbox comes from (the runner's pool) and goes back to."""

    def open_sandbox(self, image: str, runs: list[Run], execution: Execution) -> SandboxContainer: ...

    def close_sandbox(self, container: SandboxContainer, *, clean: bool) -> None: ...


class Workspace:
    """One container whose ``/work`` is brought back to ``snapshot`` before each run, by the agent's reset."""

    def __init__(self, container: SandboxContainer, snapshot: Mapping[str, bytes], config: ExecutorConfig,
                 *, dirty: bool, retryable: bool = False) -> None:
        self.container = container
        self.retryable = retryable
        self.snapshot = dict(snapshot)
        self.config = config
        self.dirty = dirty
        self.spoiled = False  #: a run here failed in a way that leaves the container in doubt: never reused
        self._resetting = False

    def run(self, plan: Run, execution: Execution, extra: Mapping[str, bytes] | None = None) -> Outcome:
        """Run ``plan`` in the restored workspace, with ``extra`` files beside the snapshot's."""
        self.restore()
        try:
            record = run_once(self.container, plan, execution, self.config, files=self.files(extra),
                              budget=OutputBudget(self.config.max_task_output))
        except NotStarted as error:
            raise self.not_started(error) from None
        return self.ran(record, plan, execution)

    def restore(self) -> None:
        """Bring ``/work`` back to the snapshot, if a run changed it (the files come with the next run)."""
        if self.dirty:
            if not self._resetting:
                self._begin_reset()
            self._end_reset()

    def files(self, extra: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
        """What the next run's stub writes: the snapshot, and ``extra`` beside it."""
        return {**self.snapshot, **(extra or {})}

    def not_started(self, error: NotStarted) -> SandboxError:
        """What a run that could not start means: the task may go again elsewhere only if nothing ran yet."""
        return error if self.retryable else SandboxError(f"the sandbox failed between tests: {error.reason}")

    def ran(self, record: RunRecord, plan: Run, execution: Execution) -> Outcome:
        """A run ended here: ask for the next reset at once (it overlaps with the checking), judge its status."""
        self.dirty, self.retryable = True, False
        if not record.died and record.report is not None:
            self._begin_reset()  # overlaps with the checking
        facts = judge_run(
            record.report, record.usage, plan.limits, plan.argv[0], cpu_kill_sent=record.cpu_kill_sent,
            cancelled=execution.cancelled, died=record.died, shared_cgroup=self.container.shared_cgroup,
        )
        if facts.note:
            record.stderr.feed(facts.note.encode())
        return Outcome(record, facts)

    def _begin_reset(self) -> None:
        try:
            self.container.begin_reset(stub=False)  # the run's stub is asked for by the run itself
        except ChannelClosed as error:
            raise SandboxError(f"the sandbox failed between tests: {error.reason}") from None
        self._resetting = True

    def _end_reset(self) -> None:
        self._resetting = False
        doubt = self.container.end_reset()
        if doubt is not None:
            raise SandboxError(f"the workspace could not be restored between tests: {doubt}")

    def settle(self) -> bool:
        """Read a reset still asked for (the runner asks its own); False if it failed or could not be read."""
        if not self._resetting:
            return not self.spoiled
        try:
            self._end_reset()
        except ExecutorError:
            return False
        return True


def snapshot_of(container: SandboxContainer, config: ExecutorConfig, disk: int) -> dict[str, bytes]:
    """Every regular file of ``/work`` now; anything that could not be restored refuses the judging."""
    files, errors = collect(container, ["**"], max_files=config.max_files, max_bytes=disk)
    errors.pop("**", None)  # "no file matched": an empty workspace is a fine snapshot
    if errors:
        path, why = next(iter(errors.items()))
        raise SandboxError(f"the workspace the build left cannot be restored between tests: {path}: {why}")
    return files


def file_bytes(value: str | bytes | None) -> bytes:
    return value.encode() if isinstance(value, str) else (value or b"")


class CustomChecker:
    """A checker (or an interactor: ``role``) in a sandbox of its own, compiled once (when first needed)
    and run once per test with ``names`` as its arguments, and files of those names beside it."""

    def __init__(self, checker: Checker, sandboxes: Sandboxes, config: ExecutorConfig, execution_id: str, *,
                 role: str = "checker", names: tuple[str, ...] = CHECKER_FILES, min_timeout: float = 0.0) -> None:
        self.checker = checker
        self.sandboxes = sandboxes
        self.config = config
        self.names = names
        self.role = role
        # Its own Execution: its output is never streamed to whoever watches the program.
        self.execution = Execution(f"{execution_id}-{role}")
        self.lang = language(checker.language)
        compile_limits, limits = helper_limits(checker, config)
        if limits.timeout < min_timeout:  # an interactor waits on the program: never the first to time out
            limits = limits.model_copy(update={"timeout": min_timeout})
        argv = list(self.lang.run) + list(names)
        if self.lang.name == "python":
            argv = ["python3", "-c", _PYTHON_CHECKER, *argv[1:]]
        self.run = Run(argv, {}, None, limits)
        self.compile: Run | None = None
        if self.lang.compile is not None and compile_limits is not None:
            self.compile = Run(list(self.lang.compile), {}, None, compile_limits)
        self.workspace: Workspace | None = None
        self.container: SandboxContainer | None = None

    def _open(self) -> Workspace:
        runs = [self.run] if self.compile is None else [self.compile, self.run]
        self.container = self.sandboxes.open_sandbox(self.lang.image, runs, self.execution)
        source = {self.lang.source_file: file_bytes(self.checker.source)}
        if self.compile is None:
            return Workspace(self.container, source, self.config, dirty=False)
        record = run_once(self.container, self.compile, self.execution, self.config, files=source)
        facts = judge_run(record.report, record.usage, self.compile.limits, self.compile.argv[0],
                          cpu_kill_sent=record.cpu_kill_sent, cancelled=False, died=record.died)
        if Outcome(record, facts).status is not TaskStatus.SUCCESS:
            detail = (record.stderr.text() or record.stdout.text() or facts.error or "")[:CHECKER_MESSAGE_BYTES]
            raise SandboxError(f"the {self.role} did not compile: {detail}")
        disk = max(self.compile.limits.disk, self.run.limits.disk)
        return Workspace(self.container, snapshot_of(self.container, self.config, disk), self.config, dirty=True)

    def ready(self) -> Workspace:
        """Its workspace, opened (and the checker compiled) the first time."""
        if self.workspace is None:
            self.workspace = self._open()
        return self.workspace

    def check(self, test: TestCase, output: bytes) -> Judged:
        files = dict(zip(CHECKER_FILES, (file_bytes(test.input), output, file_bytes(test.expected_output))))
        outcome = self.ready().run(self.run, self.execution, files)
        record = outcome.record
        said = record.stdout.content() if record.stdout.content().strip() else record.stderr.content()
        return testlib_verdict(outcome.status, outcome.facts.exit_code, said)

    def close(self) -> None:
        if self.container is not None:
            clean = self.workspace.settle() if self.workspace is not None else False
            self.sandboxes.close_sandbox(self.container, clean=clean)
            self.container = None


