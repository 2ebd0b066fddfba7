"""What a judged task must be, checked before anything runs; each refusal names its field.

The language form (``tests``, ``checker``, ``stop``, ``interactor`` beside
``language``) and a plain task (``judging.tests`` ...) share these rules;
``prefix`` makes each name its own field.
"""

from __future__ import annotations

from faber_ray.errors import TaskValidationError
from faber_ray.judging.cases import Checker, Judging
from faber_ray.judging.checkers import builtin_checker
from faber_ray.languages import language
from faber_ray.models import Task

__all__ = ["MAX_TESTS", "check_judged_task", "check_judging"]

#: Tests one task may have.
MAX_TESTS = 10_000


def _refuse(index: int | None, field: str, reason: str) -> TaskValidationError:
    return TaskValidationError(reason, task_index=index, field=field)


def _check_checker(checker: Checker, index: int | None, field: str) -> None:
    try:
        language(checker.language)
    except TaskValidationError as error:
        raise _refuse(index, f"{field}.language", error.reason) from None


def check_judging(judging: Judging, *, index: int | None = None, prefix: str = "", max_stdin: int | None = None) -> None:
    """The rules of ``judging`` itself: tests, checker, stop, interactor."""
    tests = judging.tests
    if not tests:
        raise _refuse(index, prefix + "tests", "tests is empty; give at least one TestCase")
    if len(tests) > MAX_TESTS:
        raise _refuse(index, prefix + "tests", f"{len(tests)} tests, over the cap of {MAX_TESTS}")
    for number, test in enumerate(tests):
        field = f"{prefix}tests.{number}"
        if not test.points >= 0:  # a model built with model_construct skips pydantic's check
            raise _refuse(index, f"{field}.points", f"points must be zero or more, got {test.points}")
        if test.group is not None and not test.group.strip():
            raise _refuse(index, f"{field}.group", "a group needs a name; leave group out for a test on its own")
        size = len(test.input.encode() if isinstance(test.input, str) else test.input)
        if max_stdin is not None and size > max_stdin:
            raise _refuse(index, f"{field}.input", f"input is {size} bytes, over the cap of {max_stdin}")
    if isinstance(judging.checker, str):
        try:
            builtin_checker(judging.checker)  # refuses an unknown name or a bad EPS
        except TaskValidationError as error:
            raise _refuse(index, prefix + "checker", error.reason) from None
    else:
        _check_checker(judging.checker, index, prefix + "checker")
    if judging.interactor is not None:
        if judging.stop != "never":
            raise _refuse(index, prefix + "stop", "an interactive problem runs every test: stop must be 'never'")
        if isinstance(judging.checker, Checker):
            raise _refuse(index, prefix + "checker", "the interactor judges an interactive test: leave checker out")
        _check_checker(judging.interactor, index, prefix + "interactor")


def check_judged_task(task: Task, *, index: int | None = None, max_stdin: int | None = None) -> None:
    """A plain task with ``judging``: steps whose last is the judged program, run once per test."""
    if task.judging is None:
        return
    if task.steps is None:
        raise _refuse(index, "judging", "a judged task needs steps: the last runs once per test")
    last = len(task.steps) - 1
    if task.steps[last].stdin is not None:
        raise _refuse(index, f"steps.{last}.stdin", "the judged step's stdin is each test's input; leave it out")
    if task.collect is not None:
        raise _refuse(index, "collect", "collect is not supported with tests")
    check_judging(task.judging, index=index, prefix="judging.", max_stdin=max_stdin)
