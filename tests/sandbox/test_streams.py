"""CappedBuffer and the frame demultiplexer, fed through a real socketpair."""

from __future__ import annotations

import socket
import struct

import pytest

from faber_ray.errors import SandboxError
from faber_ray.sandbox.agent import protocol
from faber_ray.sandbox.streams import CappedBuffer, DockerDemux, raw_socket

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


# DockerDemux and the agent's frames ---------------------------------------------

CUTS = [(1,), (3, 7), (8,), (9, 10, 11), tuple(range(1, 60))]


def feed_in_pieces(feed, data: bytes, cuts: tuple[int, ...]) -> list:
    pieces, last = [], 0
    for cut in (*cuts, len(data)):
        pieces += list(feed(data[last:cut]))
        last = cut
    return pieces


@pytest.mark.parametrize("cuts", CUTS)
def test_docker_frames_split_anywhere_come_out_whole(cuts: tuple[int, ...]) -> None:
    stream = frame(STDOUT, b"hello ") + frame(STDERR, b"err") + frame(STDOUT, b"") + frame(STDOUT, b"world")
    pieces = feed_in_pieces(DockerDemux().feed, stream, cuts)
    assert pieces == [(STDOUT, b"hello "), (STDERR, b"err"), (STDOUT, b""), (STDOUT, b"world")]


def test_a_docker_frame_bigger_than_any_read() -> None:
    big = bytes(range(256)) * 4096
    demux = DockerDemux()
    data = frame(STDOUT, big)
    pieces = []
    for at in range(0, len(data), 65536):
        pieces += demux.feed(data[at : at + 65536])
    assert pieces == [(STDOUT, big)]


@pytest.mark.parametrize("cuts", CUTS)
def test_agent_frames_split_anywhere_come_out_whole(cuts: tuple[int, ...]) -> None:
    stream = protocol.frame(64, b"\x00\x00\x00\x01") + protocol.frame(66, b"\x01out") + protocol.frame(67)
    got = feed_in_pieces(protocol.FrameReader().feed, stream, cuts)
    assert got == [(64, b"\x00\x00\x00\x01"), (66, b"\x01out"), (67, b"")]


def test_an_impossible_agent_frame_is_refused() -> None:
    with pytest.raises(SandboxError, match="impossible length"):
        list(protocol.FrameReader().feed(struct.pack(">IB", 0, 1)))


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
