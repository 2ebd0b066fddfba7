"""The sandbox agent's wire protocol: frames, the task specification, and the replies.

Mirrors ``agent/agent.h`` (a test checks that the numbers agree). A frame is
a 4-byte big-endian length ``L`` followed by ``L`` bytes: one type byte and a
payload. The host writes frames to the container's stdin and reads them from
its stdout; Docker's own 8-byte stream headers are removed before this layer.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from faber_ray.errors import SandboxError

__all__ = [
    "MAX_DATA",
    "PROTOCOL_VERSION",
    "AgentMessage",
    "End",
    "Entry",
    "EntryKind",
    "ExitReport",
    "ExitFlag",
    "FrameReader",
    "HostMessage",
    "SpecKey",
    "frame",
    "parse_entries",
    "spec_payload",
]

PROTOCOL_VERSION = 1
#: The most data one frame carries; bigger content is split.
MAX_DATA = 1 << 20
_MAX_FRAME = MAX_DATA + 4096


class HostMessage(enum.IntEnum):
    PREPARE = 1
    SPEC = 2
    FILE = 3
    DATA = 4
    STDIN = 5
    GO = 6
    KILL = 7
    LIST = 8
    READ = 9
    RESET = 10
    QUIT = 11


class AgentMessage(enum.IntEnum):
    READY = 64
    STUB = 65
    OUT = 66
    EXIT = 67
    ENTRIES = 68
    LISTED = 69
    FILE = 70
    DATA = 71
    REFUSED = 72
    RESET = 73
    FATAL = 74
    PEAK = 75


class SpecKey(enum.IntEnum):
    ARG = 1
    ENV = 2
    CWD = 3
    TIMEOUT_MS = 4
    MAX_OUTPUT = 5
    RLIMIT = 6
    SAMPLE_MS = 7
    MAX_TOTAL = 8  #: bytes this run may keep over both streams: what is left of the task's max_task_output
    LIVE_STDIN = 9  #: stdin is fed by STDIN frames while the run goes on (an empty one ends it): interactive


class End(enum.IntEnum):
    """How a command's run ended, as the agent saw it."""

    RAN = 0  #: it ran; the wait status is its own
    EXEC = 1  #: execve failed (``errno`` says why)
    STAGING = 2  #: writing its files or stdin failed
    NEVER = 3  #: killed before it started


class ExitFlag(enum.IntFlag):
    STDOUT_OVER = 1
    STDERR_OVER = 2
    TIMEOUT = 4
    KILLED = 8
    CPU_RLIMIT = 16  #: the command's own CPU time, as its kernel counts it, reached its RLIMIT_CPU
    FSIZE_FULL = 32  #: it exited 153 while a writable mount held RLIMIT_FSIZE bytes (or was full)
    TOTAL_OVER = 64  #: the two streams together passed what the task had left of max_task_output
    IPC_LEFT = 128  #: IPC objects the run made could not all be removed after it (the message says which)


class EntryKind(enum.IntEnum):
    FILE = 1
    DIRECTORY = 2
    SYMLINK = 3
    FIFO = 4
    SOCKET = 5
    DEVICE = 6
    OTHER = 7


def frame(kind: int, payload: bytes = b"") -> bytes:
    """One frame: length, type, payload."""
    return struct.pack(">IB", len(payload) + 1, kind) + payload


def _record(key: SpecKey, value: bytes) -> bytes:
    return struct.pack(">BI", key, len(value)) + value


def spec_payload(
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str,
    *,
    timeout_ms: int,
    max_output: int,
    rlimits: Mapping[int, tuple[int, int]],
    sample_ms: int = 0,
    max_total: int | None = None,
    live_stdin: bool = False,
) -> bytes:
    """The SPEC frame's payload: what the stub needs to exec, and what the agent enforces."""
    parts = [_record(SpecKey.ARG, arg.encode()) for arg in argv]
    parts += [_record(SpecKey.ENV, f"{name}={value}".encode()) for name, value in env.items()]
    parts.append(_record(SpecKey.CWD, cwd.encode()))
    parts.append(_record(SpecKey.TIMEOUT_MS, struct.pack(">Q", timeout_ms)))
    parts.append(_record(SpecKey.MAX_OUTPUT, struct.pack(">Q", max_output)))
    if max_total is not None:
        parts.append(_record(SpecKey.MAX_TOTAL, struct.pack(">Q", max_total)))
    if live_stdin:
        parts.append(_record(SpecKey.LIVE_STDIN, b"\x01"))
    if sample_ms:
        parts.append(_record(SpecKey.SAMPLE_MS, struct.pack(">Q", sample_ms)))
    for resource, (soft, hard) in rlimits.items():
        parts.append(_record(SpecKey.RLIMIT, struct.pack(">BQQ", resource, soft, hard)))
    return b"".join(parts)


class FrameReader:
    """Turns a byte stream into frames, however the stream was split."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        self._pending += data
        offset = 0
        while len(self._pending) - offset >= 5:
            (length,) = struct.unpack_from(">I", self._pending, offset)
            if not 0 < length <= _MAX_FRAME:
                raise SandboxError(f"the sandbox agent sent a frame of impossible length {length}")
            if len(self._pending) - offset < 4 + length:
                break
            kind = self._pending[offset + 4]
            payload = bytes(self._pending[offset + 5 : offset + 4 + length])
            offset += 4 + length
            yield kind, payload
        del self._pending[:offset]


_EXIT = struct.Struct(">iBiQQQBI")


@dataclass(frozen=True)
class ExitReport:
    """The agent's account of one run (A_EXIT)."""

    wait_status: int
    end: End
    errno: int
    wall_ns: int
    stdout_bytes: int
    stderr_bytes: int
    flags: ExitFlag
    peak_processes: int
    message: str

    @classmethod
    def parse(cls, payload: bytes) -> ExitReport:
        status, end, err, wall, out, errs, flags, peak = _EXIT.unpack_from(payload)
        message = payload[_EXIT.size :].decode("utf-8", errors="replace")
        return cls(status, End(end), err, wall, out, errs, ExitFlag(flags), peak, message)

    @property
    def exited(self) -> bool:
        """The command ended on its own (rather than by a signal)."""
        return self.wait_status & 0x7F == 0

    @property
    def signal(self) -> int:
        return 0 if self.exited else self.wait_status & 0x7F

    @property
    def exit_code(self) -> int:
        """The shell's convention: the code, or 128 plus the signal."""
        return (self.wait_status >> 8) & 0xFF if self.exited else 128 + self.signal


_ENTRY = struct.Struct(">BQIH")


@dataclass(frozen=True)
class Entry:
    """One name in the working directory, as lstat saw it."""

    kind: EntryKind
    size: int
    links: int
    path: bytes


def parse_entries(payload: bytes) -> list[Entry]:
    entries, offset = [], 0
    while offset + _ENTRY.size <= len(payload):
        kind, size, links, length = _ENTRY.unpack_from(payload, offset)
        offset += _ENTRY.size
        entries.append(Entry(EntryKind(kind), size, links, payload[offset : offset + length]))
        offset += length
    return entries
