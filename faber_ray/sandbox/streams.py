"""Demultiplex Docker's attach stream into two capped buffers.

With ``tty=False`` Docker frames each chunk with an 8-byte header: the stream
(1 = stdout, 2 = stderr), three zero bytes and a big-endian length. Reading
the frames ourselves lets each stream be capped exactly, and with the
logging driver set to ``none`` a flood never touches the disk.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

__all__ = ["CappedBuffer", "pump_frames", "raw_socket"]

_HEADER = struct.Struct(">BxxxL")
_CHUNK = 64 * 1024


class CappedBuffer:
    """Keeps the first ``cap`` bytes and counts everything offered."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.seen = 0
        self._parts: list[bytes] = []
        self._kept = 0

    @property
    def overflowed(self) -> bool:
        return self.seen > self.cap

    def feed(self, data: bytes) -> bool:
        """Add ``data``; return True the moment the cap is first exceeded."""
        was_over = self.overflowed
        self.seen += len(data)
        room = self.cap - self._kept
        if room > 0:
            part = data[:room]
            self._parts.append(part)
            self._kept += len(part)
        return self.overflowed and not was_over

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


def pump_frames(
    sock: socket.socket,
    stdout: CappedBuffer,
    stderr: CappedBuffer,
    on_overflow: Callable[[str], None],
) -> None:
    """Read frames until the engine closes the stream (the container's PID 1 exited).

    ``on_overflow("stdout"|"stderr")`` is called once per stream, the moment
    its cap is exceeded; the caller kills the container, which ends the stream.
    """
    buffers = {1: ("stdout", stdout), 2: ("stderr", stderr)}
    pending = b""
    while True:
        try:
            data = sock.recv(_CHUNK)
        except (ConnectionResetError, OSError):
            return
        if not data:
            return
        pending += data
        while len(pending) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(pending)
            if len(pending) < _HEADER.size + length:
                break
            payload = pending[_HEADER.size : _HEADER.size + length]
            pending = pending[_HEADER.size + length :]
            if kind in buffers:
                name, buffer = buffers[kind]
                if buffer.feed(payload):
                    on_overflow(name)
