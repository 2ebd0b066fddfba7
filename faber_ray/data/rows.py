"""Rows in, rows out: a dataset row's task, and a result's columns.

Plain functions, no Ray, so the row format is one small module to read.

**In.** A row gives its task in one of three ways, the first that applies:

1. a ``task`` column: a dict (a Parquet struct) or a JSON string of a task, plain
   or in the language form;
2. a ``language`` column: the language form spread over columns (``language``,
   ``source``, ``tests``, ``checker``, ``stop``, ``limits``, ...);
3. the plain task's fields as columns (``command``, ``args``, ``files``, ...).

Other columns (an id, metadata) are the row's own and are passed through.
Columnar data has no "missing": a Parquet struct or a column of dicts with
different keys gives every row every key, ``None`` (or pandas' NaN) where it
had none. So a null inside a columnar task means "not given" and is dropped
before the task is read (every field of a task takes ``None`` as its default
anyway).

**Out.** The input row, plus :data:`RESULT_SCHEMA`'s columns. Their types are
fixed, so every block of a pipeline has the same schema (a block whose rows
were all refused would otherwise give ``null`` columns Parquet cannot append to).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from faber_ray.errors import ExecutorError, TaskValidationError
from faber_ray.languages import SPEC_KEYS
from faber_ray.models import Task, TaskResult

__all__ = ["REFUSED", "RESULT_COLUMNS", "RESULT_SCHEMA", "TASK_FIELDS", "refused_columns", "result_columns",
           "task_of_row"]

#: The status of a row whose task was refused before it ran (no ``TaskStatus`` says that).
REFUSED = "REFUSED"

#: The plain task's fields, which form 3 of the row format reads.
TASK_FIELDS = tuple(Task.model_fields)

RESULT_SCHEMA = pa.schema([
    ("status", pa.string()),
    ("exit_code", pa.int64()),
    ("stdout", pa.string()),
    ("stderr", pa.string()),
    ("wall_time", pa.float64()),
    ("cpu_time", pa.float64()),
    ("peak_memory", pa.int64()),
    ("error", pa.string()),
    ("execution_id", pa.string()),
    ("cached", pa.bool_()),
    ("verdict", pa.string()),
    ("score", pa.float64()),
    ("max_score", pa.float64()),
    ("test_verdicts", pa.list_(pa.string())),
])
#: The columns the default output adds to each row, in order.
RESULT_COLUMNS: tuple[str, ...] = tuple(RESULT_SCHEMA.names)


def _missing(value: Any) -> bool:
    """Null as columnar data writes it: ``None``, or pandas' NaN (Ray Data reads some JSON through pandas,
    which fills a list column's holes with NaN). No field of a task takes NaN (it is refused as a number)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _given(value: Any) -> Any:
    """``value`` without the null entries of its dicts, at every depth (see the module's docstring)."""
    if isinstance(value, Mapping):
        return {key: _given(item) for key, item in value.items() if not _missing(item)}
    if isinstance(value, list):
        return [_given(item) for item in value]
    return value


def task_of_row(row: Mapping[str, Any]) -> Any:
    """The task a row gives (a dict for :func:`faber_ray.validation.validate_task` to check), or a refusal."""
    if not _missing(row.get("task")):
        task = row["task"]
        if isinstance(task, (str, bytes)):
            try:
                return json.loads(task)
            except ValueError as error:
                raise TaskValidationError(f"the task column is not valid JSON ({error})", field="task") from None
        if isinstance(task, Mapping):
            return _given(task)
        raise TaskValidationError(
            f"the task column holds a {type(task).__name__}; give a dict or a JSON string", field="task"
        )
    if not _missing(row.get("language")):
        return _given({key: row[key] for key in SPEC_KEYS if key in row})
    fields = _given({key: row[key] for key in TASK_FIELDS if key in row})
    if not fields:
        raise TaskValidationError(
            "the row gives no task: add a 'task' column (a dict or JSON), the language form's columns "
            "('language', 'source', 'tests', ...) or a task's own ('command', 'args', ...), or pass preprocess=",
            field="task",
        )
    return fields


def result_columns(result: TaskResult) -> dict[str, Any]:
    """The default output's columns for a task that ran. Judging's and dedupe's fields are read when the
    model has them, so the row format does not change shape with the features a result carries."""
    usage = result.resource_usage
    verdict = getattr(result, "verdict", None)
    tests = getattr(result, "tests", None)
    return {
        "status": result.status.value,
        "exit_code": result.exit_code,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "wall_time": usage.wall_time,
        "cpu_time": usage.cpu_time,
        "peak_memory": usage.peak_memory,
        "error": result.error,
        "execution_id": result.execution_id,
        "cached": bool(getattr(result, "cached", False)),
        "verdict": None if verdict is None else str(verdict),
        "score": float(getattr(result, "score", 0.0)),
        "max_score": float(getattr(result, "max_score", 0.0)),
        "test_verdicts": None if tests is None else [str(test.verdict) for test in tests],
    }


def refused_columns(refusal: ExecutorError) -> dict[str, Any]:
    """The default output's columns for a row whose task never ran: nothing measured, the refusal in ``error``."""
    return {
        "status": REFUSED, "exit_code": None, "stdout": "", "stderr": "", "wall_time": 0.0, "cpu_time": 0.0,
        "peak_memory": 0, "error": str(refusal), "execution_id": None, "cached": False, "verdict": None,
        "score": 0.0, "max_score": 0.0, "test_verdicts": None,
    }
