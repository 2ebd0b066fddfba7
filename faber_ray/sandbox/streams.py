"""Docker's attach stream and capped output buffers.

With ``tty=False`` Docker frames each chunk with an 8-byte header: the stream
(1 = stdout, 2 = stderr), three zero bytes and a big-endian length. The agent
speaks its protocol on stdout; its stderr carries only diagnostics. With the
logging driver set to ``none`` nothing of either touches the disk.
"""

from __future__ import annotations

import socket
import struct

__all__ = ["CappedBuffer", "DockerDemux", "OutputBudget", "raw_socket"]

_HEADER = struct.Struct(">BxxxL")
_CHUNK = 64 * 1024


class OutputBudget:
    """What a task may still keep of its output, over every stream of every step (``max_task_output``).

    The agent enforces it too (it kills the task past it); the host holds to it as well, so that
    what a result carries never depends on the sandbox behaving.
    """

    def __init__(self, left: int) -> None:
        self.left = left


class CappedBuffer:
    """Keeps the first ``cap`` bytes (and no more than its ``budget`` allows) and counts everything offered."""

    def __init__(self, cap: int, budget: OutputBudget | None = None) -> None:
        self.cap = cap
        self.seen = 0
        self.budget = budget
        self._parts: list[bytes] = []
        self._kept = 0

    @property
    def kept(self) -> int:
        """Bytes kept so far."""
        return self._kept

    @property
    def overflowed(self) -> bool:
        """Something offered was not kept: the stream's cap or the task's budget cut it."""
        return self.seen > self._kept

    def feed(self, data: bytes) -> bool:
        """Add ``data``; return True the moment something is first left out."""
        was_over = self.overflowed
        self.seen += len(data)
        room = self.cap - self._kept
        if self.budget is not None:
            room = min(room, self.budget.left)
        if room > 0:
            part = data[:room]
            self._parts.append(part)
            self._kept += len(part)
            if self.budget is not None:
                self.budget.left -= len(part)
        return self.overflowed and not was_over

    def content(self) -> bytes:
        """The kept bytes."""
        return b"".join(self._parts)

    def text(self) -> str:
        """The kept bytes as text; bad UTF-8 becomes U+FFFD rather than an exception."""
        return b"".join(self._parts).decode("utf-8", errors="replace")


def raw_socket(attached: object) -> socket.socket:
    """The real socket under whatever docker-py's ``attach_socket`` returned."""
    sock = attached
    while not isinstance(sock, socket.socket) and hasattr(sock, "_sock"):
        sock = sock._sock
    if not isinstance(sock, socket.socket):
        raise TypeError(f"cannot find a socket inside {type(attached).__name__}")
    return sock


class DockerDemux:
    """Splits Docker's multiplexed attach stream, however it arrives, into (stream, bytes) pieces."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._pending += data
        pieces, offset = [], 0
        while len(self._pending) - offset >= _HEADER.size:
            kind, length = _HEADER.unpack_from(self._pending, offset)
            if len(self._pending) - offset < _HEADER.size + length:
                break
            start = offset + _HEADER.size
            pieces.append((kind, bytes(self._pending[start : start + length])))
            offset = start + length
        del self._pending[:offset]
        return pieces
