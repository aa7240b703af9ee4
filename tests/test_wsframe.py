"""`ocppfast._core.wsframe`: the WebSocket data frames the transport reads and writes itself
(RFC 6455 5.2, 5.3), checked against websockets' own parser and serializer, on both backends,
and the two backends against each other."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from ocppfast._core import Backend, pure_backend
from tests.conftest import COMPILED_BACKEND, REQUIRE_COMPILED

# Around each boundary of the 7-, 16- and 64-bit lengths and of the eight-byte masking steps.
SIZES = [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 125, 126, 127, 1000, 65535, 65536, 70001]
LIMIT = 1 << 20


def websockets_parse(data: bytes, *, mask: bool) -> Frame:
    """The frame websockets' parser reads from `data` (all of it)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser: Generator[Any, Any, Frame] = Frame.parse(reader.read_exact, mask=mask)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("websockets wanted more data")


@pytest.mark.parametrize("size", SIZES)
def test_a_server_text_frame_is_what_websockets_writes(core: Backend, size: int) -> None:
    """RFC 6455 5.1: a server does not mask; the bytes are websockets' own, to the byte."""
    payload = os.urandom(size)
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False)
    assert core.wsframe.text_frame(payload) == expected


@pytest.mark.parametrize("size", SIZES)
def test_a_client_text_frame_is_masked_with_the_key_given(core: Backend, size: int) -> None:
    """RFC 6455 5.3: a client masks every frame; websockets reads back what was sent."""
    payload, mask = os.urandom(size), os.urandom(4)
    data = core.wsframe.text_frame(payload, mask)
    frame = websockets_parse(data, mask=True)
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload)
    assert mask in data[: 14 if size > 65535 else 8]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("masked", [True, False], ids=["masked", "unmasked"])
@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY], ids=["text", "binary"])
def test_reads_the_frames_websockets_writes(
    core: Backend, size: int, masked: bool, opcode: Opcode
) -> None:
    payload = os.urandom(size)
    frame = Frame(opcode, payload).serialize(mask=masked)
    data = b"\x81\x00" + frame + b"\x89\x00"  # in the middle of other frames
    assert core.wsframe.read_data_frame(data, 2, masked, LIMIT) == (payload, 2 + len(frame))


def _serialized(opcode: Opcode, payload: bytes, **flags: Any) -> bytes:
    return Frame(opcode, payload, **flags).serialize(mask=True)


@pytest.mark.parametrize(
    "data",
    [
        _serialized(Opcode.PING, b"p"),
        _serialized(Opcode.PONG, b"p"),
        _serialized(Opcode.CLOSE, b"\x03\xe8"),
        _serialized(Opcode.CONT, b"rest"),
        _serialized(Opcode.TEXT, b"first", fin=False),
        b"\xc1" + _serialized(Opcode.TEXT, b"x")[1:],  # RSV1: compressed
        b"\xa1" + _serialized(Opcode.TEXT, b"x")[1:],  # RSV2
        b"\x91" + _serialized(Opcode.TEXT, b"x")[1:],  # RSV3
        b"\x83" + _serialized(Opcode.TEXT, b"x")[1:],  # a reserved opcode
        Frame(Opcode.TEXT, b"unmasked").serialize(mask=False),  # a server reads masked frames
        b"\x81\xff" + (1 << 63).to_bytes(8, "big") + b"mask",  # a 64-bit length's top bit set
    ],
    ids=[
        "ping",
        "pong",
        "close",
        "continuation",
        "first-fragment",
        "rsv1",
        "rsv2",
        "rsv3",
        "reserved-opcode",
        "unmasked",
        "length-top-bit",
    ],
)
def test_leaves_every_other_frame_to_websockets(core: Backend, data: bytes) -> None:
    assert core.wsframe.read_data_frame(data, 0, True, LIMIT) is None


@pytest.mark.parametrize("size", [0, 5, 125, 126, 300, 65536])
def test_a_frame_cut_anywhere_is_not_read(core: Backend, size: int) -> None:
    """A frame that has not arrived whole waits for websockets, who buffers the rest."""
    frame = _serialized(Opcode.TEXT, os.urandom(size))
    read = core.wsframe.read_data_frame
    for cut in range(len(frame)) if size < 1000 else (0, 1, 2, 9, 13, 14, len(frame) - 1):
        assert read(frame[:cut], 0, True, LIMIT) is None, cut
    assert read(frame, 0, True, LIMIT) is not None


def test_a_frame_over_the_limit_is_not_read(core: Backend) -> None:
    """websockets refuses it with 1009 (RFC 6455 7.4.1) before it is read."""
    read = core.wsframe.read_data_frame
    frame = _serialized(Opcode.TEXT, b"x" * 200)
    assert read(frame, 0, True, 199) is None
    assert read(frame, 0, True, 200) == (b"x" * 200, len(frame))
    assert read(frame, 0, True, -1) is None


def test_positions_outside_the_data_read_nothing(core: Backend) -> None:
    frame = _serialized(Opcode.TEXT, b"hello")
    read = core.wsframe.read_data_frame
    assert read(frame, -1, True, LIMIT) is None
    assert read(frame, len(frame), True, LIMIT) is None
    assert read(frame, len(frame) + 5, True, LIMIT) is None


def test_unmask_is_its_own_inverse(core: Backend) -> None:
    mask = os.urandom(4)
    for size in SIZES:
        data = os.urandom(size)
        masked = core.wsframe.unmask(data, mask)
        assert masked == bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        assert core.wsframe.unmask(masked, mask) == data
    with pytest.raises(ValueError):
        core.wsframe.unmask(b"data", b"abc")
    with pytest.raises(ValueError):
        core.wsframe.text_frame(b"data", b"abcde")


# -- the two backends give the same answer for any input ---------------------------------------


def _both() -> tuple[Any, Any]:
    if COMPILED_BACKEND is None:
        if REQUIRE_COMPILED:
            pytest.fail("the compiled core was not built (OCPPFAST_REQUIRE_COMPILED=1)")
        pytest.skip("the compiled core is not built here")
    return COMPILED_BACKEND.wsframe, pure_backend().wsframe


@settings(max_examples=400, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=80),
        # Mostly well-formed heads, so that the length and mask paths are reached.
        st.tuples(
            st.sampled_from([0x81, 0x82, 0x01, 0x89, 0xC1]),
            st.integers(0, 255),
            st.binary(max_size=300),
        ).map(lambda t: bytes(t[:2]) + t[2]),
    ),
    pos=st.integers(-2, 12),
    masked=st.booleans(),
    limit=st.integers(-1, 400),
)
def test_compiled_and_pure_read_alike(data: bytes, pos: int, masked: bool, limit: int) -> None:
    compiled, pure = _both()
    assert compiled.read_data_frame(data, pos, masked, limit) == pure.read_data_frame(
        data, pos, masked, limit
    )


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=70000), mask=st.none() | st.binary(min_size=4, max_size=4))
def test_compiled_and_pure_write_alike(payload: bytes, mask: bytes | None) -> None:
    compiled, pure = _both()
    assert compiled.text_frame(payload, mask) == pure.text_frame(payload, mask)
