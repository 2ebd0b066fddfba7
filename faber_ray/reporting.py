"""Pydantic's validation errors, reported as faber-ray's: the user's field path and a sentence.

Two things need translating. Pydantic raises its own ``ValidationError``, while
callers should only ever need ``except ExecutorError``. And its error
locations mix the user's keys with names of schema parts (``files.a.str``,
``files.a.bytes``, ``limits.timeout.function-before[...]``) that mean nothing to
whoever wrote the task. :func:`field_path` keeps only the parts that lead
through the user's own data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from faber_ray.errors import ExecutorError, TaskValidationError

__all__ = ["ReportingModel", "field_path", "first_problem"]

# Set while a ReportingModel validates: models nested inside it must raise
# pydantic's error, which pydantic then prefixes with the outer path.
_VALIDATING: ContextVar[bool] = ContextVar("faber_ray_validating", default=False)


def field_path(loc: Sequence[str | int], data: Any, *, missing: bool = False) -> str:
    """The dotted path of ``loc`` through ``data``, without pydantic's schema tags.

    A part is kept when it is a key (or index) present in the data at that
    depth; the name of a missing field (``missing``) is kept as the last part.
    Everything else is a name pydantic gives a union member or a validator.
    """
    parts: list[str] = []
    current: Any = data
    for position, part in enumerate(loc):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif (
            isinstance(current, Sequence) and not isinstance(current, (str, bytes))
            and isinstance(part, int) and 0 <= part < len(current)
        ):
            current = current[part]
        elif not (missing and position == len(loc) - 1):
            continue
        parts.append(str(part))
    return ".".join(parts)


def first_problem(error: ValidationError, data: Any) -> tuple[str | None, str]:
    """``(field, reason)`` of the first problem pydantic found in ``data``."""
    first = error.errors()[0]
    field = field_path(first["loc"], data, missing=first["type"] == "missing")
    return field or None, first["msg"]


class ReportingModel(BaseModel):
    """A model whose constructor raises ``error_kind`` (an ``ExecutorError``), not pydantic's error.

    Pydantic routes ``model_validate`` through ``__init__`` too, so every way
    of building one reports the same way.
    """

    error_kind: ClassVar[type[ExecutorError]] = TaskValidationError

    def __init__(self, /, **data: Any) -> None:
        if _VALIDATING.get():  # nested in another ReportingModel: it reports, with the full path
            super().__init__(**data)
            return
        token = _VALIDATING.set(True)
        try:
            super().__init__(**data)
        except ValidationError as error:
            field, reason = first_problem(error, data)
            raise type(self).error_kind(reason, field=field) from None
        finally:
            _VALIDATING.reset(token)
