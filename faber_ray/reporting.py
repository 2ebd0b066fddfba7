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

__all__ = ["ReportingModel", "field_path", "first_problem", "printable", "text_problem"]

# Set while a ReportingModel validates: models nested inside it must raise
# pydantic's error, which pydantic then prefixes with the outer path.
_VALIDATING: ContextVar[bool] = ContextVar("faber_ray_validating", default=False)


def printable(text: str) -> str:
    """``text`` as it can be printed and sent as JSON: a lone surrogate becomes its escape (``\\ud800``).

    Field names come from the user's keys, so they may hold what no UTF-8
    output can carry; a refusal must still read as a sentence.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _lossy(key: str) -> str:
    """A key as pydantic shows it in an error location: lone surrogates as U+FFFD."""
    return key.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _key_in(current: Mapping[Any, Any], part: str | int) -> tuple[bool, Any]:
    """Whether ``part`` names a key of ``current`` (exactly, or as pydantic's lossy copy of it), and which."""
    if part in current:
        return True, part
    if isinstance(part, str) and "\ufffd" in part:
        for key in current:
            if isinstance(key, str) and _lossy(key) == part:
                return True, key
    return False, None


def _walk(loc: Sequence[str | int], data: Any, missing: bool) -> tuple[list[str], Any]:
    """The user's parts of ``loc`` (printable), and the value they lead to."""
    parts: list[str] = []
    current: Any = data
    for position, part in enumerate(loc):
        found, key = _key_in(current, part) if isinstance(current, Mapping) else (False, None)
        if found:
            current = current[key]
        elif (
            isinstance(current, Sequence) and not isinstance(current, (str, bytes))
            and isinstance(part, int) and 0 <= part < len(current)
        ):
            current, key = current[part], part
        elif missing and position == len(loc) - 1:
            key = part
        else:
            continue
        parts.append(printable(str(key)))
    return parts, current


def field_path(loc: Sequence[str | int], data: Any, *, missing: bool = False) -> str:
    """The dotted path of ``loc`` through ``data``, without pydantic's schema tags.

    A part is kept when it is a key (or index) present in the data at that
    depth; the name of a missing field (``missing``) is kept as the last part.
    Everything else is a name pydantic gives a union member or a validator.
    Keys are shown :func:`printable`.
    """
    return ".".join(_walk(loc, data, missing)[0])


def text_problem(value: str) -> str | None:
    r"""Why ``value`` is not text that can be sent anywhere (``None`` if it is).

    A Python string may hold lone surrogates (``"\ud800"``, from JSON's
    ``"\ud800"`` escape or a command line's undecodable bytes); UTF-8 has no
    encoding for them, so no command line, environment, file or stdin could
    carry them. Binary data goes in bytes fields (a ``files`` content, ``stdin``),
    which take any bytes.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        return (
            f"not valid UTF-8 text: character {error.start} is a lone surrogate "
            f"(U+{ord(value[error.start]):04X}), which UTF-8 cannot encode"
        )
    return None


def first_problem(error: ValidationError, data: Any) -> tuple[str | None, str]:
    """``(field, reason)`` of the first problem pydantic found in ``data``.

    Pydantic reports a key that is not text (a lone surrogate in a key it
    refuses as unknown) at the mapping that holds it, with a message about
    "raw data": the key is named, and the reason says what is wrong with it.
    """
    first = error.errors()[0]
    parts, at = _walk(first["loc"], data, first["type"] == "missing")
    reason = str(first["msg"])
    value = first.get("input")
    if first["type"] == "string_unicode" and isinstance(value, str):
        reason = text_problem(value) or reason
        if isinstance(at, Mapping) and value in at:
            parts.append(printable(value))
    return ".".join(parts) or None, reason


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
