"""Odd input, case by case: what the fuzz (tests/test_fuzz.py) found, and the decisions taken about it.

- Counts and sizes are 64-bit: beyond 2**63 - 1 a value is refused by its field
  (it would overflow the kernel's limits, a cgroup file or the engine), and a
  size string is read exactly, never through a float.
- Text fields must be text UTF-8 can carry: a lone surrogate is refused naming
  the field. Bytes fields (a ``stdin`` or a file's content given as bytes) take
  any bytes, so binary data has a way in.
- A refusal always names a field, and the field is printable even when the
  user's key is not.
"""

from __future__ import annotations

from typing import Any

import pytest

from faber_ray.config import ExecutorConfig
from faber_ray.errors import ExecutorError, SecurityPolicyError, TaskValidationError
from faber_ray.http import judge0
from faber_ray.languages import from_json
from faber_ray.models import MAX_INTEGER, ResourceLimits, Step, Task, parse_byte_count
from faber_ray.steps import runs_of
from faber_ray.validation import validate_batch, validate_task

CONFIG = ExecutorConfig()
SURROGATE_REASON = "not valid UTF-8 text: character 0 is a lone surrogate (U+D800), which UTF-8 cannot encode"


def refused(task: Any) -> ExecutorError:
    with pytest.raises(ExecutorError) as caught:
        validate_task(task, CONFIG, 0)
    return caught.value


# Numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [("1.5k", 1536), ("256m", 256 * 1024**2), ("0" * 60 + "64", 64), (str(MAX_INTEGER), MAX_INTEGER),
     ("8t", 8 * 1024**4), ("1." + "5" * 50 + "k", 1592), ("9007199254740993", 9007199254740993)],
)
def test_a_size_string_is_read_exactly(text: str, size: int) -> None:
    assert parse_byte_count(text) == size  # 2**53 + 1 would be rounded by a float


@pytest.mark.parametrize(
    "value", ["1" + "0" * 400, "1" + "0" * 30, "1" * 5000 + "m", str(MAX_INTEGER + 1), "9000000000000000t",
              10**400, -(10**400), MAX_INTEGER + 1, 1e19],
    ids=["1e400-text", "1e30-text", "5000-digits", "2**63-text", "overflow-by-unit", "1e400", "-1e400", "2**63", "1e19"],
)
@pytest.mark.parametrize("name", ["memory", "disk", "max_output", "max_processes"])
def test_counts_and_sizes_past_64_bits_are_refused_by_their_field(value: Any, name: str) -> None:
    if name == "max_processes" and isinstance(value, str):
        value = int(value) if value.isdigit() and len(value) < 4000 else value
    error = refused({"command": "echo", "limits": {name: value}})
    assert type(error) is TaskValidationError
    assert error.field == f"limits.{name}"
    assert "at most 9223372036854775807" in error.reason or "integer" in error.reason


def test_the_largest_64_bit_size_is_a_number_the_ceiling_refuses() -> None:
    error = refused({"command": "echo", "limits": {"memory": MAX_INTEGER}})
    assert error.field == "limits.memory" and "over the ceiling" in error.reason


@pytest.mark.parametrize(
    "value", [10**400, 10**5000, float("inf"), float("nan"), "1e400"], ids=["1e400", "1e5000", "inf", "nan", "1e400-text"]
)
def test_seconds_that_are_no_finite_number_are_refused(value: Any) -> None:
    error = refused({"command": "echo", "limits": {"timeout": value}})
    assert error.field == "limits.timeout"
    str(error)


# Text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "field"),
    [
        ({"command": "\ud800"}, "command"),
        ({"command": "echo", "args": ["ok", "\ud800"]}, "args.1"),
        ({"command": "echo", "env": {"A": "\ud800"}}, "env.A"),
        ({"command": "echo", "env": {"\ud800": "x"}}, "env.\\ud800"),
        ({"command": "echo", "files": {"a": "\ud800"}}, "files.a"),
        ({"command": "echo", "files": {"a\ud800": "x"}}, "files.a\\ud800"),
        ({"command": "echo", "stdin": "\ud800"}, "stdin"),
        ({"command": "echo", "image": "faber-ray/\ud800"}, "image"),
        ({"command": "echo", "collect": ["\ud800"]}, "collect.0"),
        ({"steps": [{"command": "echo", "stdin": "\ud800"}]}, "steps.0.stdin"),
        ({"command": "echo", "\ud800": 1}, "\\ud800"),
        ({"language": "python", "source": "\ud800"}, "source"),
        ({"language": "python", "source": "x", "inputs": ["1", "\ud800"]}, "inputs.1"),
    ],
)
def test_a_lone_surrogate_is_refused_naming_the_field(task: dict[str, Any], field: str) -> None:
    error = refused(task)
    assert (type(error), error.task_index, error.field) == (TaskValidationError, 0, field)
    assert error.reason.startswith("not valid UTF-8 text: character ")
    str(error).encode("utf-8")  # the message itself is printable


def test_surrogate_text_is_refused_when_a_task_is_built_too() -> None:
    with pytest.raises(TaskValidationError) as caught:
        Step(command="echo", args=["\ud800"])
    assert (caught.value.field, caught.value.reason) == ("args.0", SURROGATE_REASON)


def test_bytes_fields_take_any_bytes() -> None:
    binary = bytes(range(256))
    task = validate_task({"command": "cat", "stdin": binary, "files": {"blob": binary}}, CONFIG)
    assert runs_of(task, CONFIG)[0].stdin == binary
    assert task.files == {"blob": binary}


@pytest.mark.parametrize("image", ["faber-ray/python:3\x00", "faber-ray/python:3\n", "faber-ray/\x7fx"])
def test_an_image_name_with_a_control_character_is_refused(image: str) -> None:
    error = refused({"command": "echo", "image": image})
    assert (type(error), error.field) == (SecurityPolicyError, "image") or error.field == "image"
    assert "control character" in error.reason


# Shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"language": "python", "source": "x", "limits": [1]}, "limits"),
        ({"language": "python", "source": "x", "compile_limits": {"timeout": "soon"}}, "compile_limits.timeout"),
        ({"language": "python", "source": "x", "files": "x"}, "files"),
        ({"language": "python", "source": "x", "files": {"a": 1}}, "files.a"),
        ({"language": "python", "source": "x", "inputs": "x"}, "inputs"),
        ({"language": "python", "source": "x", "inputs": []}, "inputs"),
        ({"language": "python", "source": "x", "collect": "*"}, "collect"),
        ({"language": "python", "source": 3}, "source"),
        ({"language": "python"}, "source"),
    ],
)
def test_the_language_form_refuses_wrong_types_naming_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(TaskValidationError) as caught:
        from_json(spec)
    assert caught.value.field == field


def test_validate_batch_takes_the_language_form_as_the_readme_says() -> None:
    [task] = validate_batch([{"language": "python", "source": "print(1)", "stdin": "x"}], CONFIG)
    assert task.steps is not None and task.steps[0].stdin == "x"
    with pytest.raises(TaskValidationError) as caught:
        validate_batch([{"command": "echo"}, {"language": "python", "source": "x", "limits": [1]}], CONFIG)
    assert (caught.value.task_index, caught.value.field) == (1, "limits")


def test_limits_given_as_a_list_name_their_field_in_the_plain_form_too() -> None:
    error = refused({"command": "echo", "limits": [1]})
    assert error.field == "limits"
    with pytest.raises(TaskValidationError):
        ResourceLimits.model_validate({"memory": "1" + "0" * 400})


# Judge0 -------------------------------------------------------------------------------


def judge0_refusal(**fields: Any) -> ExecutorError:
    body = {"source_code": "print(1)", "language_id": 71, **fields}
    with pytest.raises(ExecutorError) as caught:
        judge0.parse_submission(body, CONFIG, base64_encoded=False)
    str(caught.value).encode("utf-8")
    return caught.value


@pytest.mark.parametrize("field", ["source_code", "stdin", "expected_output", "command_line_arguments"])
def test_a_judge0_text_field_with_a_lone_surrogate_is_refused_by_its_name(field: str) -> None:
    error = judge0_refusal(**{field: "a\ud800"})
    assert error.field == field and "not valid UTF-8 text" in error.reason


def test_judge0_compiler_options_with_a_lone_surrogate() -> None:
    error = judge0_refusal(language_id=54, compiler_options="-DX=\ud800")
    assert error.field == "compiler_options" and "not valid UTF-8 text" in error.reason


@pytest.mark.parametrize(
    "field", ["memory_limit", "max_file_size", "max_processes_and_or_threads", "cpu_time_limit", "stack_limit",
              "cpu_extra_time", "number_of_runs"],
)
@pytest.mark.parametrize("value", [10**400, 10**5000, 2**63, 1e300], ids=["1e400", "1e5000", "2**63", "1e300"])
def test_a_judge0_number_too_large_is_refused_by_its_name(field: str, value: Any) -> None:
    assert judge0_refusal(**{field: value}).field == field


def test_a_judge0_limit_within_64_bits_but_over_them_in_bytes_is_refused_by_its_name() -> None:
    config = CONFIG.model_copy(update={"ceilings": ResourceLimits()})  # no ceilings: only the 64-bit bound
    with pytest.raises(ExecutorError) as caught:
        judge0.parse_submission(
            {"source_code": "x", "language_id": 71, "memory_limit": MAX_INTEGER}, config, base64_encoded=False
        )
    assert caught.value.field == "memory_limit"


def test_an_unknown_judge0_language_id_too_large_to_print() -> None:
    error = judge0_refusal(language_id=10**5000)
    assert error.field == "language_id" and "too large to show" in error.reason
