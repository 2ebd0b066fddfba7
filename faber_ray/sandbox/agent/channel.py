"""The framed link to one container's agent: its unix socket, or the container's attach stream.

The runner thread that owns a container reads and writes its socket itself,
so a task costs no thread hand-offs. ``wake()`` (from any thread, e.g. a
cancel) interrupts a wait at once instead of letting it run to its timeout.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import time
from collections import deque

from faber_ray.errors import SandboxError
from faber_ray.sandbox.agent.protocol import FrameReader
from faber_ray.sandbox.streams import DockerDemux

__all__ = ["AgentChannel", "ChannelClosed"]

log = logging.getLogger(__name__)

_STDOUT, _STDERR = 1, 2


class ChannelClosed(SandboxError):
    """The agent's end closed: the container stopped, was killed, or the agent gave up."""


class AgentChannel:
    """Send frames to the agent; receive its frames one at a time, with a timeout."""

    def __init__(self, sock: socket.socket, name: str, *, framed: bool = True) -> None:
        """``framed``: the socket is Docker's attach stream (8-byte headers around each chunk)."""
        self.name = name
        self._framed = framed
        self._sock = sock
        self._demux = DockerDemux()
        self._frames = FrameReader()
        self._ready: deque[tuple[int, bytes]] = deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # poll, not select: a Ray worker easily holds more than 1024 descriptors.
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)
        self._poll.register(self._wake_r, select.POLLIN)
        self.closed = False

    def send(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as error:
            self.closed = True
            raise ChannelClosed(f"the sandbox {self.name} stopped answering ({error.strerror or error})") from None

    def alive(self) -> bool:
        """Whether the agent's end is still open, asked without waiting: a socket whose peer closed reads
        as end-of-file at once. (Frames that arrived already stay where they are.)"""
        if self.closed:
            return False
        if self._ready:
            return True
        try:
            return bool(self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            return True  # open, and nothing to read
        except OSError:
            return False

    def fileno(self) -> int:
        """The descriptor to poll for the agent's frames (with :meth:`wake_fileno`, to drive two channels
        from one thread; :meth:`receive` with no wait then reads what arrived)."""
        return self._sock.fileno()

    def wake_fileno(self) -> int:
        return self._wake_r

    def clear_wake(self) -> None:
        while True:
            try:
                os.read(self._wake_r, 64)
            except (BlockingIOError, OSError):
                return

    def has_ready(self) -> bool:
        """Whether frames already read wait in the queue (a poll would not show them)."""
        return bool(self._ready)

    def wake(self) -> None:
        """Make a waiting ``receive`` return at once (it returns None, as on a timeout)."""
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def receive(self, timeout: float | None) -> tuple[int, bytes] | None:
        """The next frame, or None when ``timeout`` passes or ``wake()`` is called first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready:
            if self.closed:
                raise ChannelClosed(f"the sandbox {self.name} has stopped")
            left = None if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
            readable = {fd for fd, _ in self._poll.poll(left)}
            if self._wake_r in readable:
                self.clear_wake()
                return None
            if not readable:
                return None
            self._pump()
        return self._ready.popleft()

    def _pump(self) -> None:
        try:
            data = self._sock.recv(256 * 1024)
        except OSError as error:
            data, reason = b"", str(error)
        else:
            reason = "it stopped"
        if not data:
            self.closed = True
            raise ChannelClosed(f"the sandbox {self.name} has stopped ({reason})")
        if not self._framed:
            self._ready.extend(self._frames.feed(data))
            return
        for stream, piece in self._demux.feed(data):
            if stream == _STDOUT:
                self._ready.extend(self._frames.feed(piece))
            elif stream == _STDERR:
                log.warning("sandbox %s: %s", self.name, piece.decode(errors="replace").rstrip())

    def close(self) -> None:
        self.closed = True
        for closer in (self._sock.close, lambda: os.close(self._wake_r), lambda: os.close(self._wake_w)):
            try:
                closer()
            except OSError:
                pass
