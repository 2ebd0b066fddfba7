"""Refuse bad batches before anything runs.

A batch is all-or-nothing: the first invalid task raises, naming its index,
the field and the reason. Type errors come from pydantic and are translated
(:mod:`faber_ray.reporting`), so callers see one hierarchy
(:class:`~faber_ray.errors.ExecutorError`).

The rules are small functions of ``(value, index, field)`` — a path, an
argument, a set of limits — so that any part of a task that holds one of those
reuses the same rule and names its own field.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from faber_ray.config import ExecutorConfig, ResolvedLimits
from faber_ray.errors import (
    ExecutorError,
    ResourceLimitError,
    SecurityPolicyError,
    TaskValidationError,
)
from faber_ray.judging.rules import check_judged_task
from faber_ray.languages import from_json
from faber_ray.models import ResourceLimits, Task
from faber_ray.steps import merge_limits, sandbox_disk

__all__ = [
    "ENGINE_MIN_MEMORY",
    "MAX_ARG_BYTES",
    "MAX_NAME_BYTES",
    "MAX_PATH_BYTES",
    "MAX_PATH_DEPTH",
    "check_argument",
    "check_limits",
    "check_path",
    "validate_batch",
    "validate_task",
]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # used with fullmatch: "A\n" is not a name

#: The kernel refuses a single argument or environment string longer than
#: MAX_ARG_STRLEN (131072 bytes, counting its terminating NUL) with E2BIG.
MAX_ARG_BYTES = 131072 - 1
#: NAME_MAX: the longest file name (one path component) Linux file systems take.
MAX_NAME_BYTES = 255
#: Of PATH_MAX's 4,096 bytes, 1 KiB stays for the working directory a file is
#: written under (a relative path must still make a valid absolute one there).
MAX_PATH_BYTES = 4096 - 1024
#: Directories a file may be nested in: far more than real projects use, and it
#: keeps 1,000-deep trees from costing the host thousands of directories per task.
MAX_PATH_DEPTH = 64
#: Docker refuses a smaller memory limit ("Minimum memory limit allowed is 6MB").
ENGINE_MIN_MEMORY = 6 * 1024 * 1024


def validate_batch(tasks: Iterable[Task | Mapping[str, Any]], config: ExecutorConfig) -> list[Task]:
    """Turn ``tasks`` (``Task`` objects or plain dicts) into checked ``Task`` objects.

    Raises the first problem found; nothing of the batch may run if any task is bad.
    """
    if isinstance(tasks, (Task, Mapping, str, bytes)):
        raise TaskValidationError("expected a list of tasks, got a single " + type(tasks).__name__, field="tasks")
    if not isinstance(tasks, Iterable):
        got = "None" if tasks is None else f"a {type(tasks).__name__}"
        raise TaskValidationError(f"expected a list of tasks, got {got}", field="tasks")
    checked = [validate_task(task, config, index) for index, task in enumerate(tasks)]
    if not checked:
        raise TaskValidationError("the batch is empty; pass at least one task", field="tasks")
    return checked


def validate_task(task: Task | Mapping[str, Any], config: ExecutorConfig, index: int = 0) -> Task:
    """Check one task against the type rules, the size caps, the ceilings and the policy.

    ``task`` is a ``Task``, a plain dict, or the language form
    (``{"language": "cpp", "source": ...}``, :func:`faber_ray.languages.from_json`).
    """
    parsed = _parse(task, index)
    _check_shape(parsed, config, index)
    _check_env(parsed.env, config, index, "env")
    _check_files(parsed, config, index)
    check_limits(parsed.limits, config, index, "limits")
    if parsed.steps is None:
        assert parsed.command is not None
        _check_command(parsed.command, parsed.args, config, index, "")
        _check_stdin(parsed.stdin, config, index, "stdin")
    for number, step in enumerate(parsed.steps or []):
        prefix = f"steps.{number}."
        _check_command(step.command, step.args, config, index, prefix)
        _check_env(step.env, config, index, prefix + "env")
        _check_stdin(step.stdin, config, index, prefix + "stdin")
        check_limits(step.limits, config, index, prefix + "limits")  # what the step itself says
        check_limits(merge_limits(parsed.limits, step.limits), config, index, prefix + "limits")
    _check_files_fit(parsed, sandbox_disk(parsed, config), index)
    _check_collect(parsed.collect, index)
    _check_policy(parsed, config, index)
    check_judged_task(parsed, index=index, max_stdin=config.max_stdin_bytes)
    if parsed.judging is not None and not isinstance(parsed.judging.checker, str):
        # The language form names its checker "checker", as its author wrote it.
        where = "" if isinstance(task, Mapping) and "language" in task else "judging."
        check_limits(parsed.judging.checker.limits, config, index, where + "checker.limits")
    return parsed


def _parse(task: Task | Mapping[str, Any], index: int) -> Task:
    if isinstance(task, Task):
        # Re-validate: a Task may have been built with model_construct or mutated.
        task = task.model_dump()
    if not isinstance(task, Mapping):
        raise TaskValidationError(
            f"a task must be a Task or a dict, not {type(task).__name__}", task_index=index, field="task"
        )
    try:
        # Both report pydantic's errors with the user's field path.
        return from_json(task) if "language" in task else Task.model_validate(task)
    except TaskValidationError as error:
        raise TaskValidationError(error.reason, task_index=index, field=error.field or "task") from None


def _refuse(index: int, field: str, reason: str, kind: type[ExecutorError] = TaskValidationError) -> NoReturn:
    raise kind(reason, task_index=index, field=field)


def _has_nul(value: str | bytes) -> bool:
    return b"\x00" in value if isinstance(value, bytes) else "\x00" in value


# Reusable rules: (value, index, field) ----------------------------------------


def check_argument(value: str, index: int, field: str, what: str = "argument") -> None:
    """One string the kernel passes to the command (an argument, the command itself)."""
    if _has_nul(value):
        _refuse(index, field, f"{what} contains a NUL byte")
    size = len(value.encode())
    if size > MAX_ARG_BYTES:
        _refuse(
            index, field,
            f"{what} is {size} bytes; the kernel takes at most {MAX_ARG_BYTES} bytes in one argument "
            "(MAX_ARG_STRLEN), so pass large data as a file or on stdin",
        )


def check_path(path: str, index: int, field: str) -> None:
    """A path relative to the working directory, naming a file: no escape, no surprises, a sane size."""
    if not path or _has_nul(path):
        _refuse(index, field, "file path is empty or contains a NUL byte")
    if path.startswith("/"):
        _refuse(index, field, "file path must be relative to the working directory, not absolute")
    parts = path.split("/")
    if ".." in parts:
        _refuse(index, field, "file path must not contain '..'")
    if posixpath.normpath(path) != path:
        _refuse(index, field, f"file path is not normalised; write it as '{posixpath.normpath(path)}'")
    if path == ".":
        _refuse(index, field, "file path must name a file, not the working directory")
    if len(parts) > MAX_PATH_DEPTH + 1:
        _refuse(index, field, f"file path is {len(parts) - 1} directories deep; at most {MAX_PATH_DEPTH} are allowed")
    longest = max(len(part.encode()) for part in parts)
    if longest > MAX_NAME_BYTES:
        _refuse(index, field, f"a name in the file path is {longest} bytes; at most {MAX_NAME_BYTES} are allowed")
    size = len(path.encode())
    if size > MAX_PATH_BYTES:
        _refuse(index, field, f"file path is {size} bytes; at most {MAX_PATH_BYTES} are allowed")


def check_limits(
    limits: ResourceLimits | None, config: ExecutorConfig, index: int, prefix: str = "limits"
) -> ResolvedLimits:
    """Limits as given (positive), then resolved with the defaults (ceilings, the engine's floor,
    disk below memory); returns the resolved limits."""
    given = limits or ResourceLimits()
    for name in ResourceLimits.model_fields:
        value = getattr(given, name)
        if value is not None and not value > 0:  # "not >" also refuses NaN, which compares false
            _refuse(index, f"{prefix}.{name}", f"must be greater than zero, got {value}")
    resolved = config.resolve_limits(limits)
    for name in ResourceLimits.model_fields:
        ceiling = getattr(config.ceilings, name)
        value = getattr(resolved, name)
        if ceiling is not None and value > ceiling:
            _refuse(index, f"{prefix}.{name}", f"{value} is over the ceiling of {ceiling}", ResourceLimitError)
    if resolved.memory < ENGINE_MIN_MEMORY:
        _refuse(
            index, f"{prefix}.memory",
            f"memory ({resolved.memory} bytes) is below {ENGINE_MIN_MEMORY} bytes (6 MiB), the least Docker accepts",
            ResourceLimitError,
        )
    # An unset disk shrinks to fit under memory (ExecutorConfig.resolve_limits); only a
    # disk the task itself asked for can be too large.
    if given.disk is not None and resolved.disk >= resolved.memory:
        _refuse(
            index, f"{prefix}.disk",
            f"disk ({resolved.disk} bytes) must be below memory ({resolved.memory} bytes), "
            "because the sandbox's tmpfs is counted as memory",
            ResourceLimitError,
        )
    return resolved


# The parts of a task -----------------------------------------------------------


def _check_shape(task: Task, config: ExecutorConfig, index: int) -> None:
    """A task runs ``command`` or ``steps``: exactly one of them."""
    if task.command is not None and task.steps is not None:
        _refuse(index, "steps", "a task has either command or steps, not both")
    if task.command is None and task.steps is None:
        _refuse(index, "command", "a task needs a command (or steps)")
    if task.steps is not None:
        if not task.steps:
            _refuse(index, "steps", "steps is empty; give at least one step, or a command")
        if len(task.steps) > config.max_steps:
            _refuse(index, "steps", f"{len(task.steps)} steps, over the cap of {config.max_steps}")
        for name in ("args", "stdin"):
            if getattr(task, name) is not None:
                _refuse(index, name, f"a task with steps takes {name} on each step, not on the task")


def _check_command(command: str, args: list[str] | None, config: ExecutorConfig, index: int, prefix: str) -> None:
    if not command.strip():
        _refuse(index, prefix + "command", "command is empty")
    check_argument(command, index, prefix + "command", what="command")
    for position, arg in enumerate(args or []):
        check_argument(arg, index, f"{prefix}args.{position}")
    size = sum(len(part.encode()) for part in [command, *(args or [])])
    if size > config.max_command_bytes:
        _refuse(index, prefix + "command",
                f"command and args are {size} bytes, over the cap of {config.max_command_bytes}")


def _check_env(env: dict[str, str] | None, config: ExecutorConfig, index: int, field: str) -> None:
    size = 0
    for name, value in (env or {}).items():
        if not _ENV_NAME.fullmatch(name):
            _refuse(index, f"{field}.{name}", "environment variable names must match [A-Za-z_][A-Za-z0-9_]*")
        check_argument(f"{name}={value}", index, f"{field}.{name}", what="environment variable")
        size += len(name.encode()) + len(value.encode())
    if size > config.max_env_bytes:
        _refuse(index, field, f"environment is {size} bytes, over the cap of {config.max_env_bytes}")


#: Patterns one task's ``collect`` may give.
MAX_COLLECT_PATTERNS = 100


def _check_collect(patterns: list[str] | None, index: int) -> None:
    """Glob patterns below the working directory: never absolute, never through '..'."""
    if patterns is None:
        return
    if len(patterns) > MAX_COLLECT_PATTERNS:
        _refuse(index, "collect", f"{len(patterns)} patterns, over the cap of {MAX_COLLECT_PATTERNS}")
    for number, pattern in enumerate(patterns):
        field = f"collect.{number}"
        if not pattern or _has_nul(pattern):
            _refuse(index, field, "pattern is empty or contains a NUL byte")
        if pattern.startswith("/"):
            _refuse(index, field, "pattern must be relative to the working directory, not absolute")
        if ".." in pattern.split("/"):
            _refuse(index, field, "pattern must not contain '..'")
        if len(pattern.encode()) > MAX_PATH_BYTES:
            _refuse(index, field, f"pattern is {len(pattern.encode())} bytes; at most {MAX_PATH_BYTES} are allowed")


def _check_files(task: Task, config: ExecutorConfig, index: int) -> None:
    files = task.files or {}
    if len(files) > config.max_files:
        _refuse(index, "files", f"{len(files)} files, over the cap of {config.max_files}")
    total = 0
    for path, content in files.items():
        field = f"files.{path}"
        check_path(path, index, field)
        for parent in _parents(path):
            if parent in files:
                _refuse(index, field, f"file path is inside '{parent}', which is a file of this task")
        total += len(path.encode()) + _size(content)
    if total > config.max_files_bytes:
        _refuse(
            index, "files", f"files total {total} bytes (paths and contents), over the cap of {config.max_files_bytes}"
        )



def _size(content: str | bytes) -> int:
    return len(content.encode() if isinstance(content, str) else content)


def _check_files_fit(task: Task, disk: int, index: int) -> None:
    """Files the working directory cannot hold would only fail as the sandbox starts: refuse them now."""
    contents = sum(_size(content) for content in (task.files or {}).values())
    if contents > disk:
        _refuse(
            index, "files", f"files total {contents} bytes, more than the working directory's disk ({disk} bytes) holds",
            ResourceLimitError,
        )


def _parents(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b"]``."""
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


def _check_stdin(stdin: str | bytes | None, config: ExecutorConfig, index: int, field: str) -> None:
    if stdin is None:
        return
    size = _size(stdin)
    if size > config.max_stdin_bytes:
        _refuse(index, field, f"stdin is {size} bytes, over the cap of {config.max_stdin_bytes}")


def _check_policy(task: Task, config: ExecutorConfig, index: int) -> None:
    commands = [("command", task.command)] if task.steps is None else [
        (f"steps.{number}.command", step.command) for number, step in enumerate(task.steps)
    ]
    for field, command in commands:
        name = posixpath.basename((command or "").strip())
        for pattern in config.blocked_commands:
            if fnmatch.fnmatchcase(name, pattern):
                _refuse(index, field, f"command '{name}' is blocked by policy ({pattern})", SecurityPolicyError)
    image = task.image or config.default_image
    if any(ord(char) < 32 or ord(char) == 127 for char in image):
        _refuse(index, "image", "image name contains a control character (such as NUL or a newline)")
    if not any(fnmatch.fnmatchcase(image, pattern) for pattern in config.allowed_images):
        _refuse(
            index, "image",
            f"image '{image}' is not in allowed_images {config.allowed_images} (['*'] would allow any image)",
            SecurityPolicyError,
        )
    if task.network and not config.allow_network:
        _refuse(index, "network", "network access is disabled by the executor's config", SecurityPolicyError)
