"""One interactive test: the program and the interactor run at once, in two sandboxes, wired by the host.

The interactor is a :class:`~faber_ray.judging.Checker` run as ``interactor
input.txt answer.txt`` in a sandbox of its own (compiled once per task, like a
custom checker): the test's input and answer are files there, and nowhere
else. The program gets no input of its own: its stdin is what the interactor
writes, its stdout goes to the interactor's stdin
(:mod:`faber_ray.sandbox.interaction`). The interactor's exit code is the
verdict, by testlib's convention, and its stderr (the first 1 KiB) the
test's ``checker_message``; see :func:`faber_ray.judging.scoring.interactive_verdict`.
"""

from __future__ import annotations

from dataclasses import replace

from faber_ray.config import ExecutorConfig
from faber_ray.judging.cases import Checker, TestCase
from faber_ray.judging.scoring import Judged, interactive_verdict
from faber_ray.sandbox.execution import Execution, NotStarted, Running
from faber_ray.sandbox.interaction import interact
from faber_ray.sandbox.report import Outcome
from faber_ray.sandbox.streams import OutputBudget
from faber_ray.sandbox.workspace import INTERACTOR_FILES, CustomChecker, Sandboxes, Workspace, file_bytes
from faber_ray.steps import Run

__all__ = ["Interactor"]


class Interactor:
    """The interactor's sandbox for a task's tests, and how one test runs against it."""

    def __init__(self, checker: Checker, sandboxes: Sandboxes, config: ExecutorConfig, execution_id: str,
                 program: Run) -> None:
        self.config = config
        self.helper = CustomChecker(checker, sandboxes, config, execution_id, role="interactor",
                                    names=INTERACTOR_FILES, min_timeout=program.limits.timeout)

    def run(self, workspace: Workspace, plan: Run, execution: Execution, test: TestCase) -> tuple[Outcome, Judged]:
        """Run ``plan`` (the program) in ``workspace`` against the interactor, on ``test``."""
        helper = self.helper
        other = helper.ready()
        files = dict(zip(INTERACTOR_FILES, (file_bytes(test.input), file_bytes(test.expected_output))))
        plan = replace(plan, stdin=None)
        workspace.restore()
        other.restore()
        program = Running(workspace.container, plan, execution, self.config,
                          budget=OutputBudget(self.config.max_task_output), live_stdin=True)
        interactor = Running(other.container, helper.run, helper.execution, self.config, live_stdin=True)
        try:
            first = interact(program, interactor, files=workspace.files(), interactor_files=other.files(files))
        except NotStarted as error:
            if interactor.sent:  # the program's sandbox failed before it started
                raise workspace.not_started(error) from None
            raise other.not_started(error) from None
        except BaseException:
            other.spoiled = True  # a run failed midway: the interactor's container is in doubt too
            raise
        own = other.ran(interactor.record, helper.run, helper.execution)
        outcome = workspace.ran(program.record, plan, execution)
        judged = interactive_verdict(outcome.status, own.status, own.facts.exit_code,
                                     own.record.stderr.content(), interactor_first=first)
        return outcome, judged

    def close(self) -> None:
        self.helper.close()
