"""Host directories that faber-ray, often running as root, may trust.

The rule (from the red team's report): host code never follows a path that
anyone but itself could have made. A directory is trusted only if ``lstat``
shows a real directory (not a link) owned by us and writable by nobody else,
and every directory above it is owned by root or by us and is either not
writable by others or sticky (as ``/tmp`` is, so nobody can swap our entry).
Anything else is refused with a ``SandboxError`` that names the path.
"""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faber_ray.errors import SandboxError

__all__ = ["cache_dir", "check_trusted", "locked", "private_dir"]


def _refuse(path: Path, why: str) -> SandboxError:
    return SandboxError(f"refusing to use {path}: {why}; remove it or point faber-ray elsewhere")


def _check_chain(path: Path, *, final_is_ours: bool) -> None:
    me = os.geteuid()
    for current in [*reversed(path.parents), path]:
        try:
            info = os.lstat(current)
        except OSError as error:
            raise _refuse(current, f"cannot inspect it ({error.strerror})") from None
        if info.st_uid not in (0, me):
            raise _refuse(current, f"it belongs to uid {info.st_uid}, not to root or to us")
        if stat.S_ISLNK(info.st_mode) and current != path:
            continue  # a link that only root or we could have made; its target is checked too
        if not stat.S_ISDIR(info.st_mode):
            raise _refuse(current, "it is not a directory (a symbolic link or a file)")
        others_write = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if current == path and final_is_ours:
            if info.st_uid != me or others_write:
                raise _refuse(current, "it must belong to us and be writable only by us (mode 0700)")
        elif others_write and not info.st_mode & stat.S_ISVTX:
            raise _refuse(current, "others may write to it and it is not sticky")


def check_trusted(path: Path) -> None:
    """Raise unless ``path`` and every directory above it (as written, and as resolved) are safe to use."""
    written = Path(os.path.abspath(path))
    _check_chain(written, final_is_ours=True)
    resolved = Path(os.path.realpath(written))
    if resolved != written:
        _check_chain(resolved, final_is_ours=True)


def private_dir(path: Path) -> Path:
    """``path`` as a directory of ours (created 0700 if missing), checked with :func:`check_trusted`."""
    path = Path(os.path.abspath(path))
    missing = [current for current in [*reversed(path.parents), path] if not os.path.lexists(current)]
    if missing:
        # Nothing is created below a directory that others could tamper with.
        _check_chain(missing[0].parent, final_is_ours=False)
    for current in missing:
        try:
            os.mkdir(current, 0o700)
        except FileExistsError:
            pass  # made by a sibling process a moment ago; checked below like any other
        except OSError as error:
            raise SandboxError(f"cannot create the directory {current}: {error.strerror}") from None
    check_trusted(path)
    return path


def cache_dir(name: str = "") -> Path:
    """faber-ray's cache (``$XDG_CACHE_HOME/faber-ray``, else ``~/.cache/faber-ray``), private and checked."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "faber-ray"
    return private_dir(base / name if name else base)


@contextmanager
def locked(directory: Path, name: str = ".lock") -> Iterator[None]:
    """Hold an exclusive lock in a trusted directory, so concurrent builders take turns."""
    fd = os.open(directory / name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
