"""One exception hierarchy, rooted at :class:`ExecutorError`.

Like docker-py, lower-level failures (pydantic, the Docker SDK, Ray) are
translated at the boundary, so callers only ever need ``except ExecutorError``.
Every error pickles cleanly because results and refusals cross Ray process
boundaries: the constructor arguments are kept and replayed by ``__reduce__``.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "ExecutorError",
    "TaskValidationError",
    "SecurityPolicyError",
    "ResourceLimitError",
    "ExecutionError",
    "QueueFullError",
    "SandboxError",
    "ConfigurationError",
    "short_error",
    "unwrap_error",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: The last line of a Python traceback: ``module.Class: message``.
_RAISED = re.compile(r"^([\w.]+(?:Error|Exception)): (.+)$", re.MULTILINE)


class ExecutorError(Exception):
    """Root of every error faber-ray raises.

    ``task_index`` and ``field`` say which task of a batch and which of its
    fields were refused (``None`` where that does not apply); ``reason`` is the
    bare sentence. ``str(error)`` joins them into one readable message.
    """

    def __init__(
        self,
        reason: str,
        *,
        task_index: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.task_index = task_index
        self.field = field
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.task_index is not None:
            where.append(f"task {self.task_index}")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.reason, self.task_index, self.field))


def _rebuild(
    cls: type[ExecutorError], reason: str, task_index: int | None, field: str | None
) -> ExecutorError:
    return cls(reason, task_index=task_index, field=field)


class TaskValidationError(ExecutorError):
    """A task is malformed: wrong type, empty command, bad path, too large."""


class SecurityPolicyError(ExecutorError):
    """A task asks for something the policy forbids (blocked command, network, image)."""


class ResourceLimitError(ExecutorError):
    """A task's limits exceed a ceiling or can never fit on any node."""


class ExecutionError(ExecutorError):
    """A task could not be executed or its execution was lost."""


class QueueFullError(ExecutionError):
    """The executor's queue cannot take the batch now (only when the caller asked not to wait for room)."""


class SandboxError(ExecutorError):
    """The container layer (Docker engine, image, runtime) failed."""


class ConfigurationError(ExecutorError):
    """An ``ExecutorConfig`` value, file or environment variable is invalid."""


def unwrap_error(error: BaseException) -> BaseException:
    """The ``ExecutorError`` inside Ray's ``RayTaskError`` wrapper, if there is one.

    Ray's wrapper already subclasses the cause, so ``except ExecutorError``
    works on it; unwrapping gives the short message instead of Ray's traceback.
    """
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, ExecutorError) else error


def short_error(error: BaseException) -> str:
    """One line that says what went wrong, for logs, results and refusals.

    An actor whose creation failed reaches the caller as Ray's ``ActorDiedError``,
    whose text is Ray's preamble and the traceback: the line that matters is the
    error the actor raised, a faber-ray error first (e.g. the sandbox agent that
    cannot be compiled without a C compiler). Anything else gives its first line.
    """
    text = _ANSI.sub("", str(getattr(error, "error_msg", "") or error)).strip()
    raised = _RAISED.findall(text)
    if raised:
        ours = [message for kind, message in raised if kind.startswith("faber_ray.")]
        return (ours[0] if ours else raised[-1][1])[:300]
    lines = text.splitlines()
    return lines[0][:300] if lines else type(error).__name__
