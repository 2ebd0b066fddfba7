"""The row format, without Ray: which task a row gives, and the columns a result becomes."""

from __future__ import annotations

import json

import pytest

from faber_ray.data import RESULT_COLUMNS, RESULT_SCHEMA, SandboxProcessorConfig
from faber_ray.data.rows import refused_columns, result_columns, task_of_row
from faber_ray.errors import ConfigurationError, TaskValidationError
from faber_ray.judging import TestResult, Verdict
from faber_ray.models import ResourceUsage, TaskResult, TaskStatus
from faber_ray.validation import validate_task
from faber_ray.config import ExecutorConfig


def test_a_task_column_as_json_or_as_a_struct_whose_missing_keys_are_nulls() -> None:
    assert task_of_row({"id": 1, "task": json.dumps({"command": "echo", "args": ["a"]})}) == {
        "command": "echo", "args": ["a"]}
    # A Parquet struct gives every row every key: None is "not given", at every depth.
    struct = {"command": "cat", "files": {"a.txt": "x", "b.txt": None}, "limits": {"timeout": 2, "memory": None},
              "stdin": None}
    assert task_of_row({"task": struct}) == {"command": "cat", "files": {"a.txt": "x"}, "limits": {"timeout": 2}}


def test_the_language_form_spread_over_columns_beside_columns_of_the_rows_own() -> None:
    row = {"id": "a", "score_so_far": 3, "language": "python", "source": "print(1)", "stdin": None,
           "tests": [{"input": "", "expected_output": "1\n", "points": None, "group": None}], "checker": None}
    given = task_of_row(row)
    assert given == {"language": "python", "source": "print(1)", "tests": [{"input": "", "expected_output": "1\n"}]}
    assert validate_task(given, ExecutorConfig()).judging is not None


def test_a_plain_tasks_fields_as_columns_and_a_row_with_no_task() -> None:
    assert task_of_row({"id": 7, "command": "echo", "args": ["hi"], "env": None}) == {"command": "echo", "args": ["hi"]}
    # Ray Data reads some JSON lines through pandas, which writes a list column's holes as NaN.
    assert task_of_row({"command": "echo", "args": float("nan"), "language": float("nan")}) == {"command": "echo"}
    with pytest.raises(TaskValidationError) as refused:
        task_of_row({"id": 7, "prompt": "hello"})
    assert refused.value.field == "task" and "preprocess=" in refused.value.reason
    for bad in ("{nope", 12):
        with pytest.raises(TaskValidationError) as refused:
            task_of_row({"task": bad})
        assert refused.value.field == "task"


def test_result_columns_carry_the_verdicts_and_match_the_schema() -> None:
    result = TaskResult(
        execution_id="e1", status=TaskStatus.SUCCESS, exit_code=0, stdout="4\n",
        resource_usage=ResourceUsage(wall_time=0.5, cpu_time=0.25, peak_memory=1024),
        verdict=Verdict.WRONG_ANSWER, score=1.0, max_score=3.0,
        tests=[TestResult(index=0, verdict=Verdict.ACCEPTED, points=1.0),
               TestResult(index=1, verdict=Verdict.WRONG_ANSWER)],
    )
    columns = result_columns(result)
    assert list(columns) == list(RESULT_COLUMNS) == RESULT_SCHEMA.names
    assert columns["test_verdicts"] == ["ACCEPTED", "WRONG_ANSWER"]
    assert (columns["verdict"], columns["score"], columns["max_score"]) == ("WRONG_ANSWER", 1.0, 3.0)
    assert (columns["wall_time"], columns["cpu_time"], columns["peak_memory"]) == (0.5, 0.25, 1024)
    refused = refused_columns(TaskValidationError("command is empty", task_index=3, field="command"))
    assert list(refused) == list(RESULT_COLUMNS)
    assert (refused["status"], refused["error"]) == ("REFUSED", "task 3, field 'command': command is empty")


@pytest.mark.parametrize("fields, field", [
    ({"concurrency": 0}, "concurrency"),
    ({"concurrency": (3, 2)}, "concurrency"),
    ({"concurrency": (1, 2, 3)}, "concurrency"),
    ({"concurrency": True}, "concurrency"),
    ({"batch_size": 0}, "batch_size"),
    ({"address": ""}, "address"),
    ({"address": "shared", "executor_config": {"max_concurrent_tasks": 2}}, "executor_config"),
    ({"executor_config": {"max_concurent_tasks": 2}}, "max_concurent_tasks"),
    ({"continue_on_error": "no"}, "continue_on_error"),
])
def test_a_bad_config_is_refused_naming_its_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        SandboxProcessorConfig(**fields)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_a_good_config() -> None:
    config = SandboxProcessorConfig(concurrency=[2, 8], executor_config={"max_concurrent_tasks": 2})  # type: ignore[arg-type]
    assert config.concurrency == (2, 8) and config.private
    assert isinstance(config.executor_config, ExecutorConfig) and config.executor_config.max_concurrent_tasks == 2
    assert not SandboxProcessorConfig(address="shared").private
