"""Run a judged task's tests: each from the workspace the compile left, each judged where the program cannot reach.

The shape of it, and why:

- **The answer never enters the program's sandbox.** A test's run gets its
  own input on stdin and nothing else of the test. The built-in checkers run
  here, on the host, on the stdout the agent relayed; a custom checker runs in
  a *second* sandbox (its own container, uid and workspace) that gets the
  input, the program's output and the answer as files. Nothing of the program
  can name, read or signal that container.
- **Tests are independent.** After the compile the host takes a snapshot of
  ``/work`` (through the agent's listing and reads, as ``collect`` does). Before
  every test but a first with nothing before it, the agent's warm reset runs:
  every process of the last run is already gone (the agent kills them all when
  a run ends), the writable mounts (``/work``, ``/tmp``, ``/dev/shm``, the image's
  volumes) are emptied and SysV IPC is removed, and the agent proves it; then
  the snapshot is staged again by the next run's stub. The reset is asked for
  as soon as a run ends, so it overlaps with the checking. A reset that cannot
  be proven ends the judging with an error: no test runs in a doubtful workspace.
- **Early stop really skips.** A test that ``stop`` rules out is never run: ``SKIPPED``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from dataclasses import replace as dc_replace
from typing import Protocol

from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError, SandboxError
from faber_ray.judging.cases import Checker, Judging, TestCase, TestResult, Verdict
from faber_ray.judging.checkers import BuiltinChecker, builtin_checker
from faber_ray.judging.scoring import (
    CHECKER_MESSAGE_BYTES, Judged, StopRule, score, task_verdict, testlib_verdict, verdict_of_status,
)
from faber_ray.languages import language
from faber_ray.models import TaskResult, TaskStatus
from faber_ray.sandbox.agent.channel import ChannelClosed
from faber_ray.sandbox.collection import collect
from faber_ray.sandbox.container import SandboxContainer
from faber_ray.sandbox.execution import Execution, NotStarted, RunRecord, run_once
from faber_ray.sandbox.outcome import judge_run
from faber_ray.sandbox.report import Outcome, TaskReport, build_result
from faber_ray.sandbox.streams import CappedBuffer, OutputBudget
from faber_ray.steps import Run, merge_limits

__all__ = ["CHECKER_FILES", "Judgement", "Sandboxes", "Workspace", "judge_tests", "judged_result", "snapshot_of"]

#: The names a custom checker's three files have in its own workspace: ``checker input output answer``.
CHECKER_FILES = ("input.txt", "output.txt", "answer.txt")

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
    """Where a custom checker's own sandbox comes from (the runner's pool) and goes back to."""

    def open_sandbox(self, image: str, runs: list[Run], execution: Execution) -> SandboxContainer: ...

    def close_sandbox(self, container: SandboxContainer, *, clean: bool) -> None: ...


@dataclass
class Judgement:
    """What the judging saw: per test, its judgement and the program's run (None if it never ran)."""

    judging: Judging
    judged: list[Judged]
    outcomes: list[Outcome | None]
    compiled: bool = True

    def results(self) -> tuple[list[TestResult], Verdict, float, float]:
        """``(tests, verdict, score, max_score)`` for the task's result."""
        tests = self.judging.tests
        points, total, most = score(tests, self.judged)
        results = [_test_result(i, test, one, outcome, earned)
                   for i, (test, one, outcome, earned) in enumerate(zip(tests, self.judged, self.outcomes, points))]
        verdict = task_verdict(self.judged) if self.compiled else Verdict.COMPILATION_ERROR
        return results, verdict, total, most


def _test_result(index: int, test: TestCase, judged: Judged, outcome: Outcome | None, points: float) -> TestResult:
    record = outcome.record if outcome else RunRecord()
    return TestResult(
        index=index, name=test.name, group=test.group, verdict=judged.verdict, points=points,
        time=record.usage.cpu_time, wall_time=record.wall_time, memory=record.usage.peak_memory,
        exit_code=outcome.facts.exit_code if outcome else None, checker_message=judged.message,
        stdout=record.stdout.text(),
    )


def _shorten(buffer: CappedBuffer) -> CappedBuffer:
    """The first 1 KiB of a stream, and its count: what a test's result keeps (a task may have 10,000 tests)."""
    short = CappedBuffer(CHECKER_MESSAGE_BYTES)
    short.feed(buffer.content()[:CHECKER_MESSAGE_BYTES])
    short.seen = buffer.seen
    return short


class Workspace:
    """One container whose ``/work`` is brought back to ``snapshot`` before each run, by the agent's reset."""

    def __init__(self, container: SandboxContainer, snapshot: Mapping[str, bytes], config: ExecutorConfig,
                 *, dirty: bool, retryable: bool = False) -> None:
        self.container = container
        self.retryable = retryable
        self.snapshot = dict(snapshot)
        self.config = config
        self.dirty = dirty
        self._resetting = False

    def run(self, plan: Run, execution: Execution, extra: Mapping[str, bytes] | None = None) -> Outcome:
        """Run ``plan`` in the restored workspace, with ``extra`` files beside the snapshot's."""
        if self.dirty:
            if not self._resetting:
                self._begin_reset()
            self._end_reset()
        try:
            record = run_once(self.container, plan, execution, self.config, files={**self.snapshot, **(extra or {})},
                              budget=OutputBudget(self.config.max_task_output))
        except NotStarted as error:
            if self.retryable:
                raise
            raise SandboxError(f"the sandbox failed between tests: {error.reason}") from None
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
            return True
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


def _bytes(value: str | bytes | None) -> bytes:
    return value.encode() if isinstance(value, str) else (value or b"")


class CustomChecker:
    """A checker program in a sandbox of its own, compiled once (when first needed) and run once per test."""

    def __init__(self, checker: Checker, sandboxes: Sandboxes, config: ExecutorConfig, execution_id: str) -> None:
        self.checker = checker
        self.sandboxes = sandboxes
        self.config = config
        # Its own Execution: its output is never streamed to whoever watches the program.
        self.execution = Execution(f"{execution_id}-checker")
        self.lang = language(checker.language)
        limits = merge_limits(self.lang.run_limits, checker.limits)
        argv = list(self.lang.run) + list(CHECKER_FILES)
        if self.lang.name == "python":
            argv = ["python3", "-c", _PYTHON_CHECKER, *argv[1:]]
        self.run = Run(argv, {}, None, config.resolve_limits(limits))
        self.compile: Run | None = None
        if self.lang.compile is not None:
            self.compile = Run(list(self.lang.compile), {}, None,
                               config.resolve_limits(merge_limits(self.lang.compile_limits, checker.limits)))
        self.workspace: Workspace | None = None
        self.container: SandboxContainer | None = None

    def _open(self) -> Workspace:
        runs = [self.run] if self.compile is None else [self.compile, self.run]
        self.container = self.sandboxes.open_sandbox(self.lang.image, runs, self.execution)
        source = {self.lang.source_file: _bytes(self.checker.source)}
        if self.compile is None:
            return Workspace(self.container, source, self.config, dirty=False)
        record = run_once(self.container, self.compile, self.execution, self.config, files=source)
        facts = judge_run(record.report, record.usage, self.compile.limits, self.compile.argv[0],
                          cpu_kill_sent=record.cpu_kill_sent, cancelled=False, died=record.died)
        if Outcome(record, facts).status is not TaskStatus.SUCCESS:
            detail = (record.stderr.text() or record.stdout.text() or facts.error or "")[:CHECKER_MESSAGE_BYTES]
            raise SandboxError(f"the checker did not compile: {detail}")
        disk = max(self.compile.limits.disk, self.run.limits.disk)
        return Workspace(self.container, snapshot_of(self.container, self.config, disk), self.config, dirty=True)

    def check(self, test: TestCase, output: bytes) -> Judged:
        if self.workspace is None:
            self.workspace = self._open()
        files = dict(zip(CHECKER_FILES, (_bytes(test.input), output, _bytes(test.expected_output))))
        outcome = self.workspace.run(self.run, self.execution, files)
        record = outcome.record
        said = record.stdout.content() if record.stdout.content().strip() else record.stderr.content()
        return testlib_verdict(outcome.status, outcome.facts.exit_code, said)

    def close(self) -> None:
        if self.container is not None:
            clean = self.workspace.settle() if self.workspace is not None else False
            self.sandboxes.close_sandbox(self.container, clean=clean)
            self.container = None


def _builtin(check: BuiltinChecker, test: TestCase, output: bytes) -> Judged:
    if test.expected_output is None:
        return Judged(Verdict.ACCEPTED, 1.0)
    verdict, message = check(output, _bytes(test.expected_output))
    return Judged(verdict, 1.0 if verdict is Verdict.ACCEPTED else 0.0, message)


def judge_tests(
    container: SandboxContainer, judging: Judging, run: Run, execution: Execution, config: ExecutorConfig,
    sandboxes: Sandboxes, *, setup: list[Outcome], disk: int, files: Mapping[str, str | bytes] | None,
) -> tuple[Judgement, str | None, bool]:
    """Run every test ``stop`` allows in ``container`` after ``setup`` (the compile): ``(judgement, error,
    clean)``; ``error`` says why the judging could not go on, ``clean`` whether the container may serve again."""
    tests = judging.tests
    judgement = Judgement(judging, [Judged(Verdict.SKIPPED)] * len(tests), [None] * len(tests))
    failed = next((outcome for outcome in setup if outcome.status is not TaskStatus.SUCCESS), None)
    if failed is not None:
        judgement.compiled = failed.status in (TaskStatus.CANCELLED, TaskStatus.ERROR)
        return judgement, None, True
    stop = StopRule(judging.stop, tests)
    custom = CustomChecker(judging.checker, sandboxes, config, execution.execution_id) \
        if isinstance(judging.checker, Checker) else None
    check = builtin_checker(judging.checker) if isinstance(judging.checker, str) else None
    workspace: Workspace | None = None
    error: str | None = None
    current: int | None = None
    try:
        if setup:
            workspace = Workspace(container, snapshot_of(container, config, disk), config, dirty=True)
        else:  # nothing ran yet: the first test may go again on another sandbox if this one fails to start it
            snapshot = {path: _bytes(data) for path, data in (files or {}).items()}
            workspace = Workspace(container, snapshot, config, dirty=False, retryable=True)
        for index, test in enumerate(tests):
            if execution.cancelled:
                stop.end()
            if not stop.runs(index):
                continue
            current, execution.step = index, len(setup) + index
            outcome = workspace.run(replace(run, stdin=_bytes(test.input)), execution)
            judgement.outcomes[index] = outcome
            verdict = verdict_of_status(outcome.status)
            if verdict is not None:
                judged = Judged(verdict)
            elif custom is not None:
                judged = custom.check(test, outcome.record.stdout.content())
            else:
                assert check is not None
                judged = _builtin(check, test, outcome.record.stdout.content())
            outcome.record.stdout = _shorten(outcome.record.stdout)
            outcome.record.stderr = _shorten(outcome.record.stderr)
            judgement.judged[index], current = judged, None
            stop.saw(index, judged)
            if outcome.status in (TaskStatus.CANCELLED, TaskStatus.ERROR) or outcome.record.died:
                stop.end()
    except NotStarted:
        raise  # nothing of the task ran: the runner tries another sandbox
    except ExecutorError as failure:
        error = failure.reason
        if current is not None:
            judgement.judged[current] = Judged(Verdict.JUDGE_ERROR, 0.0, error[:CHECKER_MESSAGE_BYTES])
    finally:
        clean = workspace.settle() if workspace is not None else True
        if custom is not None:
            custom.close()
    return judgement, error, clean and error is None


def judged_result(report: TaskReport, execution: Execution, *, node_id: str, image: str, sandbox: str) -> TaskResult:
    """A judged task's result: status, output and usage over the compile and every test run (as for steps;
    stdout and stderr are the last test run's first 1 KiB), ``steps`` the compile's, and the verdicts."""
    judgement = report.judgement
    assert judgement is not None
    ran = [outcome for outcome in judgement.outcomes if outcome is not None]
    combined = dc_replace(report, outcomes=[*report.outcomes, *ran])
    result = build_result(combined, execution, has_steps=True, node_id=node_id, image=image, sandbox=sandbox)
    tests, verdict, total, most = judgement.results()
    if report.error is not None and verdict in (Verdict.ACCEPTED, Verdict.SKIPPED):
        verdict = Verdict.JUDGE_ERROR  # the judging did not finish: nothing was accepted for sure
    return result.model_copy(update={
        "steps": (result.steps or [])[: len(report.outcomes)], "verdict": verdict, "score": total,
        "max_score": most, "tests": tests,
    })
