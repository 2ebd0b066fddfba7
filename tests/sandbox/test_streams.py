"""CappedBuffer and the frame demultiplexer, fed through a real socketpair."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from faber_ray.sandbox.streams import CappedBuffer, pump_frames, raw_socket

STDIN, STDOUT, STDERR, SYSERR = 0, 1, 2, 3


def frame(kind: int, payload: bytes) -> bytes:
    """One frame of Docker's attach protocol (tty off)."""
    return struct.pack(">BxxxL", kind, len(payload)) + payload


# CappedBuffer ----------------------------------------------------------------


def test_buffer_under_the_cap() -> None:
    buffer = CappedBuffer(10)
    assert buffer.feed(b"hello") is False
    assert (buffer.text(), buffer.seen, buffer.overflowed) == ("hello", 5, False)


def test_buffer_exactly_at_the_cap_is_not_overflowed() -> None:
    buffer = CappedBuffer(10)
    assert buffer.feed(b"12345") is False
    assert buffer.feed(b"67890") is False
    assert (buffer.text(), buffer.seen, buffer.overflowed) == ("1234567890", 10, False)


def test_buffer_reports_the_overflow_once_and_keeps_counting() -> None:
    buffer = CappedBuffer(10)
    assert buffer.feed(b"1234567") is False
    assert buffer.feed(b"89abc") is True  # crosses the cap: reported now
    assert buffer.feed(b"def") is False  # already over: not reported again
    assert buffer.feed(b"") is False
    assert buffer.text() == "123456789a"
    assert buffer.seen == 15
    assert buffer.overflowed is True


def test_buffer_with_zero_cap() -> None:
    buffer = CappedBuffer(0)
    assert buffer.feed(b"") is False
    assert buffer.feed(b"x") is True
    assert (buffer.text(), buffer.seen) == ("", 1)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\xff\xfeok", "\ufffd\ufffdok"),
        ("héllo".encode(), "héllo"),
        (b"a\x00b", "a\x00b"),
    ],
)
def test_buffer_text_never_raises_on_bad_utf8(data: bytes, text: str) -> None:
    buffer = CappedBuffer(100)
    buffer.feed(data)
    assert buffer.text() == text


def test_buffer_cut_inside_a_multibyte_character() -> None:
    buffer = CappedBuffer(2)
    buffer.feed("aé".encode())  # 3 bytes; the cap cuts the 2-byte é in half
    assert buffer.text() == "a\ufffd"
    assert buffer.overflowed


# pump_frames -----------------------------------------------------------------


class RecordingSocket(socket.socket):
    """A real socket that notes what each ``recv`` returned and signals it."""

    def __init__(self, fileno: int) -> None:
        super().__init__(fileno=fileno)
        self.received: list[int] = []
        self.drained = threading.Event()

    def recv(self, size: int, *args: int) -> bytes:  # type: ignore[override]
        data = super().recv(size, *args)
        self.received.append(len(data))
        self.drained.set()
        return data


@pytest.fixture
def pair() -> Iterator[tuple[RecordingSocket, socket.socket]]:
    """(reader for pump_frames, writer standing in for the engine)."""
    left, right = socket.socketpair()
    reader = RecordingSocket(left.detach())
    yield reader, right
    reader.close()
    right.close()


def feed_in_pieces(reader: RecordingSocket, writer: socket.socket, pieces: list[bytes]) -> threading.Thread:
    """Send each piece only after the reader has drained the previous one, so
    every piece arrives in its own ``recv``; then close the stream."""

    def run() -> None:
        for piece in pieces:
            reader.drained.clear()
            writer.sendall(piece)
            if not reader.drained.wait(10):
                break  # the reader stopped; let the test's assertions tell what went wrong
        writer.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def pump(reader: socket.socket, cap: int = 1024) -> tuple[CappedBuffer, CappedBuffer, list[str]]:
    stdout, stderr = CappedBuffer(cap), CappedBuffer(cap)
    overflows: list[str] = []
    reader.settimeout(30)  # a hang becomes a failure, not a stuck suite
    pump_frames(reader, stdout, stderr, overflows.append)
    return stdout, stderr, overflows


def split(data: bytes, *cuts: int) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[start:end] for start, end in zip(edges, edges[1:])]


STREAM = frame(STDOUT, b"hello ") + frame(STDERR, b"oops\n") + frame(STDOUT, b"world\n")


@pytest.mark.parametrize(
    "cuts",
    [
        (),  # everything in one recv
        (3,),  # inside the first header
        (8,),  # right after the first header
        (10,),  # inside the first payload
        (14, 17),  # frame boundary, then inside the second header
        tuple(range(1, len(STREAM))),  # one byte per recv
    ],
    ids=["whole", "mid-header", "after-header", "mid-payload", "boundary+header", "bytewise"],
)
def test_frames_split_across_recv_boundaries(pair: tuple[RecordingSocket, socket.socket], cuts: tuple) -> None:
    reader, writer = pair
    pieces = split(STREAM, *cuts)
    feeder = feed_in_pieces(reader, writer, pieces)
    stdout, stderr, overflows = pump(reader)
    feeder.join(10)
    assert stdout.text() == "hello world\n"
    assert stderr.text() == "oops\n"
    assert overflows == []
    # Each piece really came in its own recv (plus the final empty read at EOF).
    assert reader.received == [len(piece) for piece in pieces] + [0]


def test_large_frame_bigger_than_one_recv(pair: tuple[RecordingSocket, socket.socket]) -> None:
    reader, writer = pair
    payload = bytes(range(256)) * 1024  # 256 KiB: several 64 KiB reads
    feeder = feed_in_pieces(reader, writer, [frame(STDOUT, payload)])
    stdout, _, _ = pump(reader, cap=len(payload))
    feeder.join(10)
    assert stdout.seen == len(payload)
    assert stdout.text() == payload.decode("utf-8", errors="replace")


def test_overflow_is_reported_once_per_stream(pair: tuple[RecordingSocket, socket.socket]) -> None:
    reader, writer = pair
    data = (
        frame(STDOUT, b"12345")
        + frame(STDOUT, b"678")  # over the cap of 6
        + frame(STDERR, b"abcdef")  # exactly at the cap
        + frame(STDOUT, b"9")
        + frame(STDERR, b"g")  # over
        + frame(STDERR, b"h")
    )
    feeder = feed_in_pieces(reader, writer, split(data, 11, 30))
    stdout, stderr, overflows = pump(reader, cap=6)
    feeder.join(10)
    assert overflows == ["stdout", "stderr"]
    assert (stdout.text(), stdout.seen, stdout.overflowed) == ("123456", 9, True)
    assert (stderr.text(), stderr.seen, stderr.overflowed) == ("abcdef", 8, True)


def test_other_stream_kinds_and_empty_frames_are_ignored(pair: tuple[RecordingSocket, socket.socket]) -> None:
    reader, writer = pair
    data = frame(STDIN, b"echoed") + frame(SYSERR, b"engine") + frame(STDOUT, b"") + frame(STDOUT, b"ok")
    feeder = feed_in_pieces(reader, writer, [data])
    stdout, stderr, _ = pump(reader)
    feeder.join(10)
    assert (stdout.text(), stdout.seen) == ("ok", 2)
    assert (stderr.text(), stderr.seen) == ("", 0)


def test_stream_ending_inside_a_frame(pair: tuple[RecordingSocket, socket.socket]) -> None:
    reader, writer = pair
    data = frame(STDOUT, b"complete") + frame(STDOUT, b"truncated")[:12]
    feeder = feed_in_pieces(reader, writer, [data])
    stdout, _, _ = pump(reader)
    feeder.join(10)
    assert stdout.text() == "complete"


def test_read_timeout_ends_the_pump(pair: tuple[RecordingSocket, socket.socket]) -> None:
    reader, writer = pair
    writer.sendall(frame(STDOUT, b"early"))
    stdout, stderr = CappedBuffer(100), CappedBuffer(100)
    reader.settimeout(0.2)  # nothing more comes and the peer never closes
    pump_frames(reader, stdout, stderr, lambda _name: None)
    assert stdout.text() == "early"


def test_peer_reset_ends_the_pump(pair: tuple[RecordingSocket, socket.socket]) -> None:
    reader, writer = pair
    reader.sendall(b"stdin the peer never reads")  # closing with unread data resets the connection
    writer.sendall(frame(STDERR, b"bye"))
    writer.close()
    _, stderr, _ = pump(reader)  # ECONNRESET after the data: no exception escapes
    assert stderr.text() == "bye"
    assert reader.received[-1] == len(frame(STDERR, b"bye"))  # the reset, not an empty read, ended it


# raw_socket ------------------------------------------------------------------


class _Wrapper:
    def __init__(self, inner: object) -> None:
        self._sock = inner


def test_raw_socket_unwraps_nested_wrappers() -> None:
    left, right = socket.socketpair()
    try:
        assert raw_socket(left) is left
        assert raw_socket(_Wrapper(_Wrapper(left))) is left
    finally:
        left.close()
        right.close()


def test_raw_socket_refuses_objects_without_a_socket() -> None:
    with pytest.raises(TypeError, match="_Wrapper"):
        raw_socket(_Wrapper(object()))
