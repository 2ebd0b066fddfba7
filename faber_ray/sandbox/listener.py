"""The agent's unix-socket channel: a listener made for one connection, then closed.

Messages over Docker's attach stream pass through dockerd and containerd's
shim, twice each, which costs more CPU per task than the task itself for a
short command. So where the runtime allows it (runc, not gVisor) the agent
connects to a unix socket that the host bind-mounts into the container. The
socket lives in a private root-owned directory; the host accepts exactly one
connection, the agent's, made before any task can exist, then closes and
unlinks the listener, so nothing the task does can ever reach the host end.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from faber_ray.errors import SandboxError
from faber_ray.sandbox.hostpath import private_dir

__all__ = ["CHANNEL_MOUNT", "ChannelListener"]

#: Where the socket appears inside the sandbox.
CHANNEL_MOUNT = "/.faber-ray/channel"


class ChannelListener:
    """Listen at a fresh path below ``root`` for the one connection of one container's agent."""

    def __init__(self, root: Path) -> None:
        self.directory = private_dir(root / uuid.uuid4().hex[:16])
        self.path = self.directory / "agent.sock"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self._socket.bind(str(self.path))
        os.chmod(self.path, 0o666)  # the sandbox user connects; the directory (0700) keeps everyone else out
        self._socket.listen(1)

    def accept(self, timeout: float, still_starting: Callable[[], bool]) -> socket.socket:
        """The agent's connection; ``still_starting()`` is asked each second so a dead container fails fast."""
        deadline = time.monotonic() + timeout
        self._socket.settimeout(1.0)
        try:
            while True:
                try:
                    connection, _ = self._socket.accept()
                    connection.settimeout(None)
                    return connection
                except TimeoutError:
                    if time.monotonic() >= deadline or not still_starting():
                        raise SandboxError("the sandbox agent never connected; the container did not start") from None
        finally:
            self.close()

    def close(self) -> None:
        """Stop listening and remove the socket (its directory goes with the container)."""
        self._socket.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.directory, ignore_errors=True)
