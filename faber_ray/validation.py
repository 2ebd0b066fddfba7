"""Refuse bad batches before anything runs.

A batch is all-or-nothing: the first invalid task raises, naming its index,
the field and the reason. Type errors come from pydantic and are translated
here, so callers see one hierarchy (:class:`~faber_ray.errors.ExecutorError`).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from faber_ray.config import ExecutorConfig
from faber_ray.errors import (
    ExecutorError,
    ResourceLimitError,
    SecurityPolicyError,
    TaskValidationError,
)
from faber_ray.models import ResourceLimits, Task

__all__ = ["validate_batch", "validate_task"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_batch(tasks: Iterable[Task | Mapping[str, Any]], config: ExecutorConfig) -> list[Task]:
    """Turn ``tasks`` (``Task`` objects or plain dicts) into checked ``Task`` objects.

    Raises the first problem found; nothing of the batch may run if any task is bad.
    """
    if isinstance(tasks, (Task, Mapping, str, bytes)):
        raise TaskValidationError("expected a list of tasks, got a single " + type(tasks).__name__)
    checked = [validate_task(task, config, index) for index, task in enumerate(tasks)]
    if not checked:
        raise TaskValidationError("the batch is empty; pass at least one task")
    return checked


def validate_task(task: Task | Mapping[str, Any], config: ExecutorConfig, index: int = 0) -> Task:
    """Check one task against the type rules, the size caps, the ceilings and the policy."""
    parsed = _parse(task, index)
    for check in (_check_command, _check_env, _check_files, _check_stdin, _check_limits, _check_policy):
        check(parsed, config, index)
    return parsed


def _parse(task: Task | Mapping[str, Any], index: int) -> Task:
    if isinstance(task, Task):
        # Re-validate: a Task may have been built with model_construct or mutated.
        task = task.model_dump()
    if not isinstance(task, Mapping):
        raise TaskValidationError(
            f"a task must be a Task or a dict, not {type(task).__name__}", task_index=index
        )
    try:
        return Task.model_validate(task)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise TaskValidationError(first["msg"], task_index=index, field=field) from None


def _refuse(index: int, field: str, reason: str, kind: type[ExecutorError] = TaskValidationError) -> None:
    raise kind(reason, task_index=index, field=field)


def _has_nul(value: str | bytes) -> bool:
    return b"\x00" in value if isinstance(value, bytes) else "\x00" in value


def _check_command(task: Task, config: ExecutorConfig, index: int) -> None:
    if not task.command.strip():
        _refuse(index, "command", "command is empty")
    if _has_nul(task.command):
        _refuse(index, "command", "command contains a NUL byte")
    for position, arg in enumerate(task.args or []):
        if _has_nul(arg):
            _refuse(index, f"args.{position}", "argument contains a NUL byte")
    size = sum(len(part.encode()) for part in task.argv())
    if size > config.max_command_bytes:
        _refuse(index, "command", f"command and args are {size} bytes, over the cap of {config.max_command_bytes}")


def _check_env(task: Task, config: ExecutorConfig, index: int) -> None:
    size = 0
    for name, value in (task.env or {}).items():
        if not _ENV_NAME.match(name):
            _refuse(index, f"env.{name}", "environment variable names must match [A-Za-z_][A-Za-z0-9_]*")
        if _has_nul(value):
            _refuse(index, f"env.{name}", "environment value contains a NUL byte")
        size += len(name.encode()) + len(value.encode())
    if size > config.max_env_bytes:
        _refuse(index, "env", f"environment is {size} bytes, over the cap of {config.max_env_bytes}")


def _check_files(task: Task, config: ExecutorConfig, index: int) -> None:
    total = 0
    files = task.files or {}
    for path, content in files.items():
        field = f"files.{path}"
        if not path or _has_nul(path):
            _refuse(index, field, "file path is empty or contains a NUL byte")
        if path.startswith("/"):
            _refuse(index, field, "file path must be relative to the working directory, not absolute")
        if ".." in path.split("/"):
            _refuse(index, field, "file path must not contain '..'")
        if posixpath.normpath(path) != path:
            _refuse(index, field, f"file path is not normalised; write it as '{posixpath.normpath(path)}'")
        if path == ".":
            _refuse(index, field, "file path must name a file, not the working directory")
        for parent in _parents(path):
            if parent in files:
                _refuse(index, field, f"file path is inside '{parent}', which is a file of this task")
        total += len(content.encode() if isinstance(content, str) else content)
    if total > config.max_files_bytes:
        _refuse(index, "files", f"files total {total} bytes, over the cap of {config.max_files_bytes}")


def _parents(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b"]``."""
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


def _check_stdin(task: Task, config: ExecutorConfig, index: int) -> None:
    if task.stdin is None:
        return
    size = len(task.stdin.encode() if isinstance(task.stdin, str) else task.stdin)
    if size > config.max_stdin_bytes:
        _refuse(index, "stdin", f"stdin is {size} bytes, over the cap of {config.max_stdin_bytes}")


def _check_limits(task: Task, config: ExecutorConfig, index: int) -> None:
    limits = task.limits or ResourceLimits()
    for name in ResourceLimits.model_fields:
        value = getattr(limits, name)
        if value is not None and not value > 0:  # "not >" also refuses NaN, which compares false
            _refuse(index, f"limits.{name}", f"must be greater than zero, got {value}")
    resolved = config.resolve_limits(task.limits)
    for name in ResourceLimits.model_fields:
        ceiling = getattr(config.ceilings, name)
        value = getattr(resolved, name)
        if ceiling is not None and value > ceiling:
            _refuse(index, f"limits.{name}", f"{value} is over the ceiling of {ceiling}", ResourceLimitError)
    if resolved.disk >= resolved.memory:
        _refuse(
            index, "limits.disk",
            f"disk ({resolved.disk} bytes) must be below memory ({resolved.memory} bytes), "
            "because the sandbox's tmpfs is counted as memory",
            ResourceLimitError,
        )


def _check_policy(task: Task, config: ExecutorConfig, index: int) -> None:
    name = posixpath.basename(task.command.strip())
    for pattern in config.blocked_commands:
        if fnmatch.fnmatchcase(name, pattern):
            _refuse(index, "command", f"command '{name}' is blocked by policy ({pattern})", SecurityPolicyError)
    image = task.image or config.default_image
    if config.allowed_images is not None and image not in config.allowed_images:
        _refuse(
            index, "image", f"image '{image}' is not in allowed_images {config.allowed_images}",
            SecurityPolicyError,
        )
    if task.network and not config.allow_network:
        _refuse(index, "network", "network access is disabled by the executor's config", SecurityPolicyError)
