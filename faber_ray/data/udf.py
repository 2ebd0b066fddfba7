"""The class Ray Data runs on each actor of the pool: one batch of rows in, the same rows with results out.

The executor refuses a batch whole (one bad task and nothing runs), which is
right for a caller who built the batch, and wrong for a dataset, where a batch
is an accident of block sizes: one bad row must not take its batch-mates down.
So each row is validated here on its own, with the executor's own config, and
only the valid ones are sent. What the executor still refuses (an image no
node has, memory no node offers) names its task, and that row alone is
refused before the rest is sent again.

The batch is a ``pyarrow.Table``: the input columns are kept as they came
(their types untouched), and the result columns are appended with fixed types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import ray

from faber_ray.actors.options import NAMESPACE
from faber_ray.errors import ExecutorError, unwrap_error
from faber_ray.models import Task, TaskResult
from faber_ray.validation import validate_task
from faber_ray.data.rows import RESULT_SCHEMA, refused_columns, result_columns, task_of_row

__all__ = ["Preprocess", "Postprocess", "SandboxBatch"]

Preprocess = Callable[[dict[str, Any]], Any]
Postprocess = Callable[[dict[str, Any], "TaskResult | ExecutorError"], Mapping[str, Any]]


def _named(error: ExecutorError, index: int, row: Mapping[str, Any], id_column: str | None) -> ExecutorError:
    """The refusal of the row at ``index`` of its batch, of the same kind, naming the row by its id if it has one."""
    reason = error.reason
    if id_column is not None and row.get(id_column) is not None:
        reason = f"{reason} (row {id_column}={row[id_column]!r})"
    return type(error)(reason, task_index=index, field=error.field)


class SandboxBatch:
    """Ray Data's callable class: built once per actor (it finds the executor and its config), then called
    once per batch."""

    def __init__(
        self,
        executor_name: str,
        preprocess: Preprocess | None = None,
        postprocess: Postprocess | None = None,
        continue_on_error: bool = True,
        id_column: str | None = None,
    ) -> None:
        self._executor = ray.get_actor(executor_name, namespace=NAMESPACE)
        self._config = ray.get(self._executor.config.remote())
        self._preprocess = preprocess
        self._postprocess = postprocess
        self._continue = continue_on_error
        self._id_column = id_column

    def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        outcomes: dict[int, TaskResult | ExecutorError] = {}
        tasks: dict[int, Task] = {}
        for index, row in enumerate(rows):
            try:
                given = self._preprocess(dict(row)) if self._preprocess is not None else task_of_row(row)
                tasks[index] = validate_task(given, self._config, index)
            except ExecutorError as error:
                self._refuse(outcomes, index, error, rows)
        outcomes.update(self._run(tasks, outcomes, rows))
        if self._postprocess is not None:
            return pa.Table.from_pylist([dict(self._postprocess(row, outcomes[i])) for i, row in enumerate(rows)])
        return _with_results(batch, [outcomes[index] for index in range(len(rows))])

    def _refuse(
        self, outcomes: dict[int, TaskResult | ExecutorError], index: int, error: ExecutorError,
        rows: list[dict[str, Any]],
    ) -> None:
        refusal = _named(error, index, rows[index], self._id_column)
        if not self._continue:
            raise refusal
        outcomes[index] = refusal

    def _run(
        self, tasks: dict[int, Task], outcomes: dict[int, TaskResult | ExecutorError], rows: list[dict[str, Any]]
    ) -> dict[int, TaskResult]:
        """Execute the valid rows; a row the executor still refuses is refused alone (with every other
        row of the same image, when the image is what it refused), and the rest is sent again."""
        pending = dict(tasks)
        while pending:
            order = list(pending)
            try:
                results: list[TaskResult] = ray.get(self._executor.execute.remote([pending[i] for i in order]))
            except ExecutorError as wrapped:
                error = unwrap_error(wrapped)
                if not isinstance(error, ExecutorError) or error.task_index is None:
                    raise error from None
                index = order[error.task_index]
                same = [i for i in order if error.field == "image" and pending[i].image == pending[index].image]
                for refused in same or [index]:
                    self._refuse(outcomes, refused, type(error)(error.reason, field=error.field), rows)
                    del pending[refused]
                continue
            return dict(zip(order, results))
        return {}


def _with_results(batch: pa.Table, outcomes: list[TaskResult | ExecutorError]) -> pa.Table:
    """``batch`` with the result columns set (replacing input columns of the same names), typed as RESULT_SCHEMA."""
    columns = [
        result_columns(outcome) if isinstance(outcome, TaskResult) else refused_columns(outcome)
        for outcome in outcomes
    ]
    for field in RESULT_SCHEMA:
        values = pa.array([column[field.name] for column in columns], type=field.type)
        position = batch.schema.get_field_index(field.name)
        batch = batch.set_column(position, field, values) if position >= 0 else batch.append_column(field, values)
    return batch
