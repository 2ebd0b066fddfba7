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
- **An interactive test** runs the program and the interactor at once, each in its
  own sandbox, wired through the host (:mod:`faber_ray.sandbox.interactive`).

The workspace and the helper sandboxes are in :mod:`faber_ray.sandbox.workspace`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from dataclasses import replace as dc_replace

from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError
from faber_ray.judging.cases import Checker, Judging, TestCase, TestResult, Verdict
from faber_ray.judging.checkers import BuiltinChecker, builtin_checker
from faber_ray.judging.scoring import CHECKER_MESSAGE_BYTES, Judged, StopRule, score, task_verdict, verdict_of_status
from faber_ray.models import TaskResult, TaskStatus
from faber_ray.sandbox.container import SandboxContainer
from faber_ray.sandbox.execution import Execution, NotStarted, RunRecord
from faber_ray.sandbox.interactive import Interactor
from faber_ray.sandbox.report import Outcome, TaskReport, build_result
from faber_ray.sandbox.streams import CappedBuffer
from faber_ray.sandbox.workspace import (
    CHECKER_FILES, CustomChecker, Sandboxes, Workspace, file_bytes, snapshot_of,
)
from faber_ray.steps import Run

__all__ = ["CHECKER_FILES", "Judgement", "Sandboxes", "Workspace", "judge_tests", "judged_result", "snapshot_of"]


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
        stdout=record.stdout.content()[:CHECKER_MESSAGE_BYTES].decode("utf-8", errors="replace"),
    )


def _shorten(buffer: CappedBuffer) -> CappedBuffer:
    """The first 1 KiB of a stream, and its count: what a test's result keeps (a task may have 10,000 tests)."""
    short = CappedBuffer(CHECKER_MESSAGE_BYTES)
    short.feed(buffer.content()[:CHECKER_MESSAGE_BYTES])
    short.seen = buffer.seen
    return short


def _builtin(check: BuiltinChecker, test: TestCase, output: bytes) -> Judged:
    if test.expected_output is None:
        return Judged(Verdict.ACCEPTED, 1.0)
    verdict, message = check(output, file_bytes(test.expected_output))
    return Judged(verdict, 1.0 if verdict is Verdict.ACCEPTED else 0.0, message)


def _judge_output(test: TestCase, outcome: Outcome, custom: CustomChecker | None,
                  check: BuiltinChecker | None) -> Judged:
    """A run's verdict from its status, or, if it ended cleanly, from the checker."""
    verdict = verdict_of_status(outcome.status)
    if verdict is not None:
        return Judged(verdict)
    if custom is not None:
        return custom.check(test, outcome.record.stdout.content())
    assert check is not None
    return _builtin(check, test, outcome.record.stdout.content())


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
    interactor = Interactor(judging.interactor, sandboxes, config, execution.execution_id, run) \
        if judging.interactor is not None else None
    workspace: Workspace | None = None
    last: Outcome | None = None
    error: str | None = None
    current: int | None = None
    try:
        if setup:
            workspace = Workspace(container, snapshot_of(container, config, disk), config, dirty=True)
        else:  # nothing ran yet: the first test may go again on another sandbox if this one fails to start it
            snapshot = {path: file_bytes(data) for path, data in (files or {}).items()}
            workspace = Workspace(container, snapshot, config, dirty=False, retryable=True)
        for index, test in enumerate(tests):
            if execution.cancelled:
                stop.end()
            if not stop.runs(index):
                continue
            current, execution.step = index, len(setup) + index
            if interactor is not None:
                outcome, judged = interactor.run(workspace, run, execution, test)
            else:
                outcome = workspace.run(replace(run, stdin=file_bytes(test.input)), execution)
                judged = _judge_output(test, outcome, custom, check)
            judgement.outcomes[index] = outcome
            if last is not None:  # the task keeps the last run's whole output, each earlier one's first 1 KiB
                last.record.stdout = _shorten(last.record.stdout)
                last.record.stderr = _shorten(last.record.stderr)
            last = outcome
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
        for helper in (custom, interactor):
            if helper is not None:
                helper.close()
    return judgement, error, clean and error is None


def judged_result(report: TaskReport, execution: Execution, *, node_id: str, image: str, sandbox: str) -> TaskResult:
    """A judged task's result: status, output and usage over the compile and every test run (as for steps;
    stdout and stderr are the last test run's, whole), ``steps`` the compile's, and the verdicts."""
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
