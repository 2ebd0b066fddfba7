"""Files back out of a sandbox (``collect``): which ones, and fetching them from the agent.

The host never opens a path in the task's workspace. The agent lists the
working directory with lstat semantics (no link is followed); the choice is
made here, in plain code: glob patterns with ``**``, only regular files with
one name, sizes checked from the listing before anything is read, caps on
count and bytes; a listed path that is not a normalised relative path is
refused, whatever wrote it. Then the agent reads each chosen file itself, checking again
with fstat on a descriptor opened with O_NOFOLLOW and O_NONBLOCK, so neither a
link nor a FIFO can get past it. Everything not returned is explained.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from faber_ray.errors import SandboxError
from faber_ray.sandbox.container import REPLY_TIMEOUT, SandboxContainer
from faber_ray.sandbox.agent.protocol import AgentMessage, Entry, EntryKind, HostMessage, frame, parse_entries

__all__ = ["MAX_ENTRIES", "NOT_NORMALISED", "Selection", "collect", "matches", "normalised", "select"]

#: Names the agent lists at most (the writable mounts hold far fewer inodes by default).
MAX_ENTRIES = 20_000
MAX_DEPTH = 64

_REFUSED = {
    EntryKind.DIRECTORY: "a directory",
    EntryKind.SYMLINK: "a symbolic link (never followed, whatever it points to)",
    EntryKind.FIFO: "a FIFO",
    EntryKind.SOCKET: "a socket",
    EntryKind.DEVICE: "a device",
    EntryKind.OTHER: "not a regular file",
}


#: Why a listed path that could point outside the workspace is refused.
NOT_NORMALISED = "refused: the sandbox listed a path that is not a normalised relative path"


def normalised(raw: bytes) -> bool:
    """A relative path with no empty, ``.`` or ``..`` segment: one name below the workspace, nothing else.

    The listing comes from inside the sandbox, so the host checks every path
    in it rather than trust the agent (or whatever wrote to its channel).
    """
    return bool(raw) and b"\0" not in raw and all(part not in (b"", b".", b"..") for part in raw.split(b"/"))


def matches(pattern: str, path: str) -> bool:
    """Shell-glob match of ``path`` by ``pattern``, segment by segment; ``**`` spans any number of segments."""
    return _match(pattern.split("/"), path.split("/"))


def _match(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    if pattern[0] == "**":
        return _match(pattern[1:], path) or (bool(path) and _match(pattern, path[1:]))
    return bool(path) and fnmatchcase(path[0], pattern[0]) and _match(pattern[1:], path[1:])


@dataclass
class Selection:
    """Files to fetch, in order (relative path, its raw bytes, its size), and the reasons for the rest."""

    wanted: list[tuple[str, bytes, int]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def select(
    entries: list[Entry], patterns: list[str], *, truncated: bool, max_files: int, max_bytes: int
) -> Selection:
    """Decide what of the listing ``patterns`` return, within the caps."""
    chosen = Selection()
    matched_any = dict.fromkeys(patterns, False)
    candidates: list[tuple[str, bytes, int]] = []
    for entry in sorted(entries, key=lambda item: item.path):
        try:
            path = entry.path.decode()
        except UnicodeDecodeError:
            path, bad_name = entry.path.decode(errors="replace"), True
        else:
            bad_name = False
        hits = [pattern for pattern in patterns if matches(pattern, path)]
        if entry.kind is EntryKind.DIRECTORY:
            # "out/**" means what is below out/, not its directories; naming one is a mistake worth a reason.
            hits = [pattern for pattern in hits if not pattern.endswith("**")]
        if not hits:
            continue
        for pattern in hits:
            matched_any[pattern] = True
        if not normalised(entry.path):
            chosen.errors[path] = NOT_NORMALISED
        elif bad_name:
            chosen.errors[path] = "the name is not valid UTF-8"
        elif entry.kind is not EntryKind.FILE:
            chosen.errors[path] = _REFUSED[entry.kind]
        elif entry.links > 1:
            chosen.errors[path] = f"a hard link ({entry.links} names for one file)"
        else:
            candidates.append((path, entry.path, entry.size))
    total = 0
    for path, raw, size in candidates:
        if len(chosen.wanted) >= max_files:
            chosen.errors[path] = f"over the cap of {max_files} files (max_collected_files)"
        elif total + size > max_bytes:
            chosen.errors[path] = (
                f"{size} bytes would pass the cap of {max_bytes} bytes for the task (max_collected_bytes)"
            )
        else:
            total += size
            chosen.wanted.append((path, raw, size))
    for pattern, hit in matched_any.items():
        if not hit:
            chosen.errors[pattern] = (
                "no file matched (the listing stopped early: the workspace holds too many names)" if truncated
                else "no file matched"
            )
    return chosen


def collect(
    container: SandboxContainer, patterns: list[str], *, max_files: int, max_bytes: int
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Run a collection in ``container`` (every task process must be gone): ``(files, file_errors)``."""
    container.channel.send(frame(HostMessage.LIST, struct.pack(">II", MAX_ENTRIES, MAX_DEPTH)))
    entries: list[Entry] = []
    while True:
        kind, payload = container.receive_any(REPLY_TIMEOUT)
        if kind == AgentMessage.ENTRIES:
            entries += parse_entries(payload)
        elif kind == AgentMessage.LISTED:
            truncated = payload[:1] == b"\x01"
            break
    chosen = select(entries, patterns, truncated=truncated, max_files=max_files, max_bytes=max_bytes)
    # Ask for every file at once; the answers come back in order.
    requests = [frame(HostMessage.READ, struct.pack(">Q", size) + raw) for _, raw, size in chosen.wanted]
    if requests:
        container.channel.send(b"".join(requests))
    files: dict[str, bytes] = {}
    for path, _, _ in chosen.wanted:
        kind, payload = container.receive_any(REPLY_TIMEOUT)
        if kind == AgentMessage.REFUSED:
            chosen.errors[path] = payload.decode(errors="replace")
            continue
        if kind != AgentMessage.FILE:
            raise SandboxError(f"the sandbox agent answered a file request with message {kind}")
        size = struct.unpack(">Q", payload)[0]
        parts: list[bytes] = []
        got = 0
        while got < size:
            kind, data = container.receive_any(REPLY_TIMEOUT)
            if kind != AgentMessage.DATA:
                raise SandboxError(f"the sandbox agent broke off sending {path}")
            parts.append(data)
            got += len(data)
        files[path] = b"".join(parts)
    return files, chosen.errors
