"""Tasks with steps against the real engine, in both sandbox modes: one workspace, each step its own limits."""

from __future__ import annotations

import pytest

from faber_ray.models import ResourceLimits, Step, Task, TaskStatus
from faber_ray.sandbox.runner import SandboxRunner

pytestmark = pytest.mark.usefixtures("no_leftover_sandboxes")

S = TaskStatus
MiB = 1024**2


def sh(script: str, **fields: object) -> Step:
    return Step(command="sh", args=["-c", script], **fields)  # type: ignore[arg-type]


def test_steps_share_the_workspace_and_the_tasks_files(runner: SandboxRunner) -> None:
    task = Task(files={"in.txt": "given\n"}, steps=[sh("cat in.txt > made.txt; echo made"), sh("cat made.txt")])
    result = runner.run(task)
    assert result.status is S.SUCCESS, result
    assert [step.stdout for step in result.steps or []] == ["made\n", "given\n"]
    assert (result.stdout, result.exit_code) == ("given\n", 0)  # the last step's


def test_a_failed_step_stops_the_task_and_later_steps_are_absent(runner: SandboxRunner) -> None:
    result = runner.run(Task(steps=[sh("echo first"), sh("echo broke >&2; exit 4"), sh("echo never")]))
    assert result.status is S.FAILURE
    assert [step.status for step in result.steps or []] == [S.SUCCESS, S.FAILURE]
    assert (result.exit_code, result.stderr) == (4, "broke\n")


def test_continue_on_failure_runs_the_rest_and_the_first_failure_decides(runner: SandboxRunner) -> None:
    steps = [
        sh("exit 1", continue_on_failure=True),
        Step(command="sleep", args=["infinity"], limits=ResourceLimits(timeout=0.5), continue_on_failure=True),
        sh("echo last", env={"X": "step"}),
    ]
    result = runner.run(Task(steps=steps, env={"X": "task", "Y": "task"}))
    assert [step.status for step in result.steps or []] == [S.FAILURE, S.TIMEOUT, S.SUCCESS]
    assert result.status is S.FAILURE  # the first step that did not succeed
    assert result.resource_limits_exceeded == ["timeout"]  # the union over the steps
    assert result.stdout == "last\n"


def test_per_step_limits_and_env_and_stdin(runner: SandboxRunner) -> None:
    """A compile-like step gets more memory and time than the run step, which hits its own timeout."""
    big = "import time; b = bytearray(200 * 1024 * 1024); time.sleep(0.3); print('compiled', __import__('os').environ['PHASE'])"
    task = Task(
        limits=ResourceLimits(memory="96m", timeout=0.5),
        env={"PHASE": "task"},
        steps=[
            Step(command="python3", args=["-c", big], env={"PHASE": "compile"},
                 limits=ResourceLimits(memory="512m", timeout=20)),
            Step(command="sh", args=["-c", "cat; sleep 30"], stdin="to the run\n"),
        ],
    )
    result = runner.run(task)
    compile_step, run_step = result.steps or []
    assert (compile_step.status, compile_step.stdout) == (S.SUCCESS, "compiled compile\n"), compile_step
    assert compile_step.resource_usage.peak_memory > 96 * MiB
    assert (run_step.status, run_step.stdout) == (S.TIMEOUT, "to the run\n")
    assert result.status is S.TIMEOUT
    usage = result.resource_usage
    assert usage.wall_time == pytest.approx(compile_step.resource_usage.wall_time + run_step.resource_usage.wall_time)
    assert usage.peak_memory == max(compile_step.resource_usage.peak_memory, run_step.resource_usage.peak_memory)


def test_background_processes_of_a_step_do_not_reach_the_next(runner: SandboxRunner) -> None:
    result = runner.run(Task(steps=[sh("sleep infinity & echo started"), sh("ls /proc | grep -c '^[0-9]'")]))
    assert result.status is S.SUCCESS
    # The agent, the shell and grep/ls themselves: no leftover sleeper.
    assert int(result.stdout) <= 4


def test_a_command_task_has_no_steps(runner: SandboxRunner) -> None:
    result = runner.run(Task(command="echo", args=["plain"]))
    assert (result.steps, result.files, result.file_errors) == (None, {}, {})
