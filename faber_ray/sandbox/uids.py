"""One host uid per live sandbox on a node: leases from a range, each held by a lock on a file.

Per-uid kernel limits (inotify instances and watches, ``RLIMIT_MSGQUEUE``,
``RLIMIT_NPROC``, locked memory of ``SHM_LOCK``, ...) are counted for the uid
on the host, whatever container a process is in. With one uid for every
sandbox, a task that took its uid's inotify instances or message-queue
bytes took them from every other sandbox on the node. So each container gets
a uid of its own, from ``sandbox_user``'s uid up (``sandbox_uids`` of them).

A uid is leased by taking a non-blocking ``flock`` on a file named after it,
in a private directory beside the agent binary (node-wide: the same path
every faber-ray process on the node uses, pods included, see ``agent``). The
process that makes a container holds the lock for as long as the container
lives and releases it once the container is removed; a process that dies
releases its locks with it, and its containers' agents exit as their
channels close. Workers, executors and ``faber-ray run --direct`` on one node
therefore never share a uid, and a warm container keeps its uid for every
task it serves (one at a time). Leases go round the range, so a uid just
released is the last to be taken again.

Nothing here follows a path another user made: the directory is checked
with :func:`faber_ray.hostpath.private_dir`, and lock files are
opened with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path

from faber_ray.errors import SandboxError
from faber_ray.hostpath import private_dir

__all__ = ["HostUids", "UidLease", "parse_user"]


def parse_user(user: str) -> tuple[int, int]:
    """``"uid:gid"`` as two numbers (the config has checked the form)."""
    uid, _, gid = user.partition(":")
    return int(uid), int(gid)


class UidLease:
    """One uid held for one container; ``release`` (idempotent) gives it back."""

    def __init__(self, uid: int, gid: int, fd: int) -> None:
        self.uid = uid
        self.gid = gid
        self._fd: int | None = fd

    @property
    def user(self) -> str:
        return f"{self.uid}:{self.gid}"

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock

    def __repr__(self) -> str:
        return f"UidLease({self.user}{'' if self._fd is not None else ', released'})"


class HostUids:
    """Leases uids ``first .. first + count - 1`` (gid ``gid`` for all), exclusive node-wide."""

    def __init__(self, directory: Path, first: int, gid: int, count: int) -> None:
        self.directory = private_dir(directory)
        self.first = first
        self.gid = gid
        self.count = count
        self._next = 0
        self._lock = threading.Lock()

    def lease(self) -> UidLease:
        """A uid no other live sandbox on this node has; ``SandboxError`` if every one is taken."""
        with self._lock:
            start = self._next
            for step in range(self.count):
                offset = (start + step) % self.count
                fd = self._try(self.first + offset)
                if fd is not None:
                    self._next = (offset + 1) % self.count
                    return UidLease(self.first + offset, self.gid, fd)
        last = self.first + self.count - 1
        raise SandboxError(
            f"every sandbox uid of this node ({self.first}..{last}) belongs to a live sandbox; "
            "raise sandbox_uids, or run fewer sandboxes at once"
        )

    def _try(self, uid: int) -> int | None:
        path = self.directory / str(uid)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as error:
            why = "it is a symbolic link" if error.errno == errno.ELOOP else error.strerror
            raise SandboxError(f"cannot use the uid lock file {path}: {why}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as error:
            os.close(fd)
            raise SandboxError(f"cannot lock the uid lock file {path}: {error.strerror}") from None
        return fd
