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
from faber_ray.sandbox.agent.build import agent_dir
from faber_ray.hostpath import private_dir
from faber_ray.sandbox.labels import owner_process

__all__ = ["CHANNEL_MOUNT", "ChannelListener", "channel_maker", "channels_root"]

#: Where the socket appears inside the sandbox.
CHANNEL_MOUNT = "/.faber-ray/channel"


def channels_root() -> Path:
    """Where the channels' directories live: beside the agent, in its private directory."""
    return agent_dir() / "channels"


def channel_maker(name: str) -> str | None:
    """The making process (``<pid>:<start time>``) a channel directory's name records, if it does."""
    pid, _, rest = name.partition("-")
    started, _, _ = rest.partition("-")
    return f"{pid}:{started}" if pid.isdigit() and started.isdigit() else None


class ChannelListener:
    """Listen at a fresh path below ``root`` for the one connection of one container's agent."""

    def __init__(self, root: Path) -> None:
        # The name records who made it, so that a reaper can remove it once its maker is gone
        # (a process killed with SIGKILL never removes its own).
        maker = owner_process().replace(":", "-")
        self.directory = private_dir(root / f"{maker}-{uuid.uuid4().hex[:12]}")
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
