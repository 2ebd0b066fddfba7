"""Odd input is a sentence: random task-like bodies through validation and the Judge0 translation.

Whatever a caller sends (odd and huge numbers, size strings beyond any integer,
lone surrogates, NULs, wrong types at every field, nested junk), the only
exception that may come out is an ``ExecutorError`` whose reason is a sentence,
that names the field (and, from a batch, the task's index), and that can be
encoded as UTF-8 and pickled (it crosses Ray and goes out as JSON). What is
accepted must be data the executor can use: its runs can be built, and it
pickles and validates again unchanged.

The examples are deterministic (``derandomize``), so CI is reproducible; the
``@example`` cases are the bodies that once answered 500 through HTTP.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any

from fuzz_support import judge0_submission, junk, language_task, task_like
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError
from faber_ray.http import judge0
from faber_ray.languages import from_json
from faber_ray.models import Task
from faber_ray.steps import runs_of
from faber_ray.validation import validate_batch, validate_task

CONFIG = ExecutorConfig()
#: Examples per property: a few seconds each. A long fuzz, deterministic too (about 10 minutes per
#: property on 2 busy cores, so without pytest-timeout's limit):
#: FABER_FUZZ_EXAMPLES=40000 python3 -m pytest tests/test_fuzz.py --timeout=0
EXAMPLES = int(os.environ.get("FABER_FUZZ_EXAMPLES", "600"))
FUZZ = settings(
    max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
#: The bodies that answered 500 through HTTP before (issue 13, section F).
HUGE_SIZE = "1" + "0" * 400


def check_refusal(error: ExecutorError, *, batch_size: int | None = None) -> None:
    """A refusal a person can read and a program can route: field, reason, index, printable, picklable."""
    assert isinstance(error.reason, str) and error.reason.strip(), repr(error)
    assert isinstance(error.field, str) and error.field, f"no field: {error!r}"
    if batch_size is not None:
        assert error.task_index is not None and 0 <= error.task_index < batch_size, repr(error)
    str(error).encode("utf-8")  # a sentence that can go out as JSON or to a terminal
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.reason, copy.field, copy.task_index) == (
        type(error), error.reason, error.field, error.task_index
    )


def check_usable(task: Task) -> None:
    """An accepted task is data the executor can use as it is: its runs (argv, env, stdin as bytes)
    can be built, and it survives the trip through Ray and a second validation unchanged."""
    assert runs_of(task, CONFIG)
    assert pickle.loads(pickle.dumps(task)) == task
    assert Task.model_validate(task.model_dump()) == task


@FUZZ
@given(batch=st.lists(task_like(json_safe=False), min_size=1, max_size=3))
@example(batch=[{"command": "echo", "limits": {"memory": HUGE_SIZE}}])
@example(batch=[{"language": "python", "source": "x", "limits": [1]}])
@example(batch=[{"language": "python", "source": "x", "files": "x"}])
@example(batch=[{"command": "\ud800"}])
@example(batch=[{"command": "echo", "stdin": "\ud800"}])
@example(batch=[{"command": "echo", "files": {"a\udcff": "x"}}])
@example(batch=[{"command": "echo", "image": "faber-ray/\ud800"}])
@example(batch=[{"command": "echo"}, 3])
def test_validate_batch_raises_only_executor_errors_that_name_index_field_and_reason(batch: list[Any]) -> None:
    try:
        checked = validate_batch(batch, CONFIG)
    except ExecutorError as error:
        check_refusal(error, batch_size=len(batch))
        return
    for task in checked:
        check_usable(task)


@FUZZ
@given(spec=language_task(json_safe=False))
@example(spec={"language": "python", "source": "x", "limits": [1]})
@example(spec={"language": "python", "source": "x", "compile_limits": {"timeout": "soon"}})
@example(spec={"language": "python", "source": "x", "files": "x"})
@example(spec={"language": "python", "source": "x", "inputs": ["1", "\ud800"]})
@example(spec={"language": "python", "source": "x", "\ud800": 1})
@example(spec={"language": "python", "source": "x", "inputs": []})
def test_the_language_form_raises_only_executor_errors_that_name_field_and_reason(spec: dict[str, Any]) -> None:
    try:
        task = from_json(spec)
        assert isinstance(task, Task)
        task = validate_task(task, CONFIG)
    except ExecutorError as error:
        check_refusal(error)
        return
    check_usable(task)


def check_judge0_refusal(error: ExecutorError, *, batch_size: int | None = None) -> None:
    check_refusal(error, batch_size=batch_size if error.field != "submissions" else None)
    status, body = judge0.error_response(error)
    assert status in (400, 422)
    json.dumps(body, ensure_ascii=False).encode("utf-8")


def check_judge0_accepted(task: Task, record: judge0.Submission, base64_encoded: bool) -> None:
    check_usable(task)
    answer = judge0.submission_json(record, fields=judge0.ALL_FIELDS, base64_encoded=base64_encoded)
    json.dumps(answer, ensure_ascii=False).encode("utf-8")


@FUZZ
@given(body=judge0_submission(json_safe=False) | junk(json_safe=False), base64_encoded=st.booleans())
@example(body={"source_code": "print(1)", "language_id": 71, "stdin": "\ud800"}, base64_encoded=False)
@example(body={"source_code": "print(1)", "language_id": 71, "memory_limit": 10**400}, base64_encoded=False)
@example(body={"source_code": "x", "language_id": 54, "compiler_options": "-D\ud800"}, base64_encoded=False)
def test_a_judge0_submission_raises_only_executor_errors_that_name_field_and_reason(
    body: Any, base64_encoded: bool
) -> None:
    try:
        task, record = judge0.parse_submission(body, CONFIG, base64_encoded=base64_encoded)
    except ExecutorError as error:
        check_judge0_refusal(error)
        return
    check_judge0_accepted(task, record, base64_encoded)


@settings(FUZZ, max_examples=max(EXAMPLES // 3, 1))  # three submissions an example
@given(
    body=st.fixed_dictionaries({"submissions": st.lists(judge0_submission(json_safe=False), max_size=3)})
    | junk(json_safe=False),
    base64_encoded=st.booleans(),
)
def test_a_judge0_batch_raises_only_executor_errors_that_name_index_field_and_reason(
    body: Any, base64_encoded: bool
) -> None:
    size = len(body["submissions"]) if isinstance(body, dict) and isinstance(body.get("submissions"), list) else None
    try:
        parsed = judge0.parse_batch(body, CONFIG, base64_encoded=base64_encoded)
    except ExecutorError as error:
        check_judge0_refusal(error, batch_size=size)
        return
    for task, record in parsed:
        check_judge0_accepted(task, record, base64_encoded)


def test_numbers_with_more_digits_than_python_prints_are_refused_as_sentences() -> None:
    """(Not an ``@example``: hypothesis cannot show such a number when it reports one.)"""
    huge = 10**5000
    for batch in ([{"command": "echo", "limits": {"disk": huge}}], [{"command": "echo", "limits": {"timeout": huge}}]):
        try:
            validate_batch(batch, CONFIG)
        except ExecutorError as error:
            check_refusal(error, batch_size=1)
    body = {"source_code": "print(1)", "language_id": 71, "max_file_size": huge, "stack_limit": huge}
    try:
        judge0.parse_submission(body, CONFIG, base64_encoded=False)
    except ExecutorError as error:
        check_judge0_refusal(error)
