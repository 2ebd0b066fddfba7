"""The error hierarchy: one root, readable messages, clean pickling."""

from __future__ import annotations

import builtins
import pickle

import pytest

import faber_ray
import faber_ray.errors as errors
from faber_ray.errors import ExecutorError

KINDS = [
    errors.TaskValidationError,
    errors.SecurityPolicyError,
    errors.ResourceLimitError,
    errors.ExecutionError,
    errors.SandboxError,
    errors.ConfigurationError,
]


# Refinements of a kind: catching the kind still catches them.
REFINEMENTS = {errors.QueueFullError: errors.ExecutionError}


def test_exactly_six_kinds_under_the_root() -> None:
    exported = {getattr(errors, name) for name in errors.__all__} - {ExecutorError}
    classes = {kind for kind in exported if isinstance(kind, type)}
    assert classes - set(REFINEMENTS) == set(KINDS)
    assert ExecutorError.__bases__ == (Exception,)


@pytest.mark.parametrize("refinement", list(REFINEMENTS), ids=lambda kind: kind.__name__)
def test_refinements_sit_under_one_kind(refinement: type[ExecutorError]) -> None:
    assert refinement.__bases__ == (REFINEMENTS[refinement],)
    with pytest.raises(REFINEMENTS[refinement]):
        raise refinement("queue is full")


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_kind_subclasses_the_root_directly(kind: type[ExecutorError]) -> None:
    assert kind.__bases__ == (ExecutorError,)
    with pytest.raises(ExecutorError):
        raise kind("boom")


@pytest.mark.parametrize("module", [errors, faber_ray], ids=["errors", "package"])
def test_no_builtin_exception_is_shadowed(module: object) -> None:
    clashes = [name for name in getattr(module, "__all__") if hasattr(builtins, name)]
    assert clashes == []
    assert not hasattr(module, "TimeoutError")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "command is empty"),
        ({"task_index": 3}, "task 3: command is empty"),
        ({"field": "command"}, "field 'command': command is empty"),
        ({"task_index": 0, "field": "command"}, "task 0, field 'command': command is empty"),
    ],
)
def test_message_names_index_field_and_reason(kwargs: dict, message: str) -> None:
    error = errors.TaskValidationError("command is empty", **kwargs)
    assert str(error) == message
    assert error.reason == "command is empty"
    assert error.task_index == kwargs.get("task_index")
    assert error.field == kwargs.get("field")


@pytest.mark.parametrize("kind", [ExecutorError, *KINDS], ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("task_index", [None, 0, 7])
def test_pickle_round_trip_keeps_type_and_fields(kind: type[ExecutorError], task_index: int | None) -> None:
    original = kind("limits.memory is over the ceiling", task_index=task_index, field="limits.memory")
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is kind
    assert (copy.reason, copy.task_index, copy.field) == (
        "limits.memory is over the ceiling", task_index, "limits.memory",
    )
    assert str(copy) == str(original)
    assert copy.args == original.args


def test_pickle_round_trip_without_field() -> None:
    copy = pickle.loads(pickle.dumps(errors.SandboxError("engine gone")))
    assert (type(copy), copy.reason, copy.task_index, copy.field) == (errors.SandboxError, "engine gone", None, None)


class _Wrapped(Exception):
    """Stands in for Ray's RayTaskError, which carries the original error as ``cause``."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__("wrapped")
        self.cause = cause


def test_unwrap_error() -> None:
    inner = errors.SandboxError("engine gone")
    assert errors.unwrap_error(_Wrapped(inner)) is inner
    foreign = _Wrapped(ValueError("not ours"))
    assert errors.unwrap_error(foreign) is foreign
    plain = errors.TaskValidationError("bad")
    assert errors.unwrap_error(plain) is plain
