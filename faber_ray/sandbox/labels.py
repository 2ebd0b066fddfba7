"""The labels on every sandbox container, and who may reap it.

Labels are the only way back to a container whose owner died without
cleaning up: a killed worker, an interrupted CLI, a Ray cluster that is gone.
Each container names the process that made it (``<pid>:<start time>``, since
a pid alone is reused); a container whose maker is no longer alive on this
machine is an orphan, whichever Ray cluster it came from, and no live
process's container ever is.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "LABEL",
    "LABEL_EXECUTION_ID",
    "LABEL_MODE",
    "LABEL_NODE_ID",
    "LABEL_OWNER",
    "LABEL_OWNER_PROCESS",
    "labels_for",
    "owner_alive",
    "owner_process",
]

LABEL = "faber-ray"
#: The task a fresh container was made for (for a warm one: the first task it served).
LABEL_EXECUTION_ID = "faber-ray.execution-id"
LABEL_NODE_ID = "faber-ray.node-id"
#: Who started the container (a worker actor's name), so a successor can reap it.
LABEL_OWNER = "faber-ray.owner"
LABEL_OWNER_PROCESS = "faber-ray.owner-process"
LABEL_MODE = "faber-ray.mode"


def _start_time(pid: int) -> str | None:
    """The start time of a live process; None for one that is gone, or dead and not yet reaped (a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return fields[19]


def owner_process(pid: int | None = None) -> str:
    """A process as ``<pid>:<start time>`` (this one by default)."""
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_start_time(pid)}"


def owner_alive(owner: str) -> bool:
    """Whether the process a label names still runs on this machine (unknown labels count as alive)."""
    pid, _, started = owner.partition(":")
    if not pid.isdigit() or not started:
        return True
    return _start_time(int(pid)) == started


def labels_for(node_id: str, owner: str, execution_id: str, mode: str) -> dict[str, str]:
    return {
        LABEL: "1",
        LABEL_EXECUTION_ID: execution_id,
        LABEL_NODE_ID: node_id,
        LABEL_OWNER: owner,
        LABEL_OWNER_PROCESS: owner_process(),
        LABEL_MODE: mode,
    }
