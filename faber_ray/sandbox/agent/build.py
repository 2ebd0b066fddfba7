"""The sandbox agent: a small static C program that is PID 1 of every sandbox container.

It is built once per machine from the sources beside this file with the
host's C compiler (``cc -static``), cached under a private directory keyed
by the sources' hash (``~/.cache/faber-ray/agent``, or ``FABER_RAY_AGENT_DIR``,
which must name the same path for the engine where faber-ray runs in a pod),
and bind-mounted read-only into each container. Being
static, it needs nothing from the image, so every image on the machine's
architecture is served, warm or fresh. See ``agent.c`` for what it does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from faber_ray.errors import SandboxError
from faber_ray.hostpath import cache_dir, locked, private_dir

__all__ = ["AGENT_MOUNT", "SOURCES", "agent_binary", "agent_digest", "agent_dir"]

#: Where the agent appears inside every sandbox.
AGENT_MOUNT = "/.faber-ray/agent"
SOURCES = ("agent.h", "agent.c", "stub.c", "reset.c", "ipc.c", "collect.c", "identity.c")
_HERE = Path(__file__).parent
_FLAGS = ["-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror", "-std=gnu11"]
_COMPILER_HINT = "install a C compiler and static libc (Debian: apt-get install gcc libc6-dev)"

_built: dict[str, Path] = {}


def agent_digest() -> str:
    """A hash of the sources and flags: a change in either builds a new binary."""
    digest = hashlib.sha256(" ".join(_FLAGS).encode())
    for name in SOURCES:
        digest.update((_HERE / name).read_bytes())
    return digest.hexdigest()[:16]


def agent_dir() -> Path:
    """The private directory of the agent's binary (and of the containers' channel sockets)."""
    override = os.environ.get("FABER_RAY_AGENT_DIR")
    return private_dir(Path(override)) if override else cache_dir("agent")


def agent_binary() -> Path:
    """The agent's path on this host, building it first if needed (safe to call from many processes)."""
    digest = agent_digest()
    if digest in _built:
        return _built[digest]
    directory = agent_dir()
    target = directory / f"agent-{digest}"
    if not target.is_file():
        with locked(directory):
            if not target.is_file():
                _compile(target)
    _built[digest] = target
    return target


def _compile(target: Path) -> None:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise SandboxError(f"the sandbox agent must be compiled once, but no C compiler was found; {_COMPILER_HINT}")
    partial = target.with_suffix(".partial")
    command = [compiler, *_FLAGS, "-o", str(partial), *(str(_HERE / name) for name in SOURCES if name.endswith(".c"))]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SandboxError(f"could not compile the sandbox agent ({error}); {_COMPILER_HINT}") from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise SandboxError(f"could not compile the sandbox agent; {_COMPILER_HINT}:\n{tail}")
    partial.chmod(0o755)
    partial.replace(target)
