"""Differential property tests: the compiled core and its pure-Python twin agree exactly.

Both backends must give the same return value, or raise a ScanError / FrameError equal in every
attribute (kind and offset; code, description, message id and Message Type Number), for any
input: the scanner's RFC 8259 verdicts and the codec's OCPP-J error mapping (J16 4, J201 4,
J21 4) are decided at the same points by both. Anything else raised fails the test.

This file does not use the `core` fixture: every example runs through both backends at once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ocppfast._core import Backend, pure_backend
from ocppfast._core.types import VERSIONS, FrameError, ScanError
from tests.conftest import COMPILED_BACKEND, REQUIRE_COMPILED

PURE = pure_backend()

# Sized so that the whole file runs in well under a minute on a slow 2-core machine.
SETTINGS = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CHEAP = settings(SETTINGS, max_examples=1000)  # for strategies that cost next to nothing


@pytest.fixture(scope="module", autouse=True)
def _compiled_core_present() -> None:
    if COMPILED_BACKEND is None:
        if REQUIRE_COMPILED:
            pytest.fail("the compiled core was not built (OCPPFAST_REQUIRE_COMPILED=1)")
        pytest.skip("the compiled core is not built here; nothing to compare")


def _compiled() -> Backend:
    assert COMPILED_BACKEND is not None
    return COMPILED_BACKEND


Outcome = tuple[Any, ...]


def scan_outcome(backend: Backend, data: bytes, max_depth: int) -> Outcome:
    try:
        return ("ok", backend.jsonscan.scan(data, max_depth))
    except ScanError as error:
        return ("ScanError", error.kind, error.offset)


def frame_outcome(backend: Backend, data: bytes | str, version: str, **limits: int) -> Outcome:
    try:
        frame = backend.frame.decode_frame(data, version, **limits)
    except FrameError as error:
        return ("FrameError", error.code, error.description, error.message_id, error.message_type)
    # msgspec Structs compare by type and fields; spell the type out for readable failures.
    return ("ok", type(frame).__name__, frame)


def assert_scan_agrees(data: bytes, max_depth: int) -> Outcome:
    compiled = scan_outcome(_compiled(), data, max_depth)
    pure = scan_outcome(PURE, data, max_depth)
    assert compiled == pure, (data[:200], max_depth)
    event(f"scan: {pure[0]}" + (f" kind {pure[1]}" if pure[0] == "ScanError" else ""))
    return pure


def assert_decode_agrees(
    data: bytes | str, max_size: int | None = None, max_depth: int | None = None
) -> None:
    limits = {}
    if max_size is not None:
        limits["max_size"] = max_size
    if max_depth is not None:
        limits["max_depth"] = max_depth
    for version in VERSIONS:
        compiled = frame_outcome(_compiled(), data, version, **limits)
        pure = frame_outcome(PURE, data, version, **limits)
        assert compiled == pure, (data[:200], version, limits)
        event(f"decode {version}: {pure[1]}")


def to_bytes(data: bytes | str) -> bytes:
    """`data` as bytes for the scanner; lone surrogates become (invalid) UTF-8 bytes."""
    return data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")


def check(data: bytes | str, max_depth: int, max_size: int | None) -> None:
    assert_scan_agrees(to_bytes(data), max_depth)
    assert_decode_agrees(data, max_size)
    assert_decode_agrees(data, max_size, max_depth)


# --------------------------------------------------------------------------------------------
# Strategies

depths = st.integers(1, 80)
small_sizes = st.none() | st.none() | st.integers(0, 64)
whitespace = st.text(alphabet=" \t\n\r", max_size=3)
surrogates = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**80), max_value=10**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(alphabet=st.characters(codec="utf-8"), max_size=6), children)
    ),
    max_leaves=25,
)


@st.composite
def dumps(draw: st.DrawFn, value: Any) -> str:
    """json.dumps with random whitespace, indentation and escaping."""
    item_separator = draw(whitespace) + "," + draw(whitespace)
    key_separator = draw(whitespace) + ":" + draw(whitespace)
    indent = draw(st.none() | st.integers(0, 2) | st.just("\t"))
    text = json.dumps(
        value,
        separators=(item_separator, key_separator),
        indent=indent,
        ensure_ascii=draw(st.booleans()),
    )
    return draw(whitespace) + text + draw(whitespace)


@st.composite
def json_texts(draw: st.DrawFn) -> bytes:
    """RFC 8259 texts: any JSON value, encoded with random whitespace."""
    return draw(dumps(draw(json_values))).encode()


# Byte soup from JSON's own tokens: reaches the scanner's deeper decisions far more often
# than uniformly random bytes do.
TOKENS = [
    b"[", b"]", b"{", b"}", b'"', b":", b",", b" ", b"\t", b"\n", b"\\", b"u", b"d800",
    b"dc00", b"\\ud83d\\ude00", b"\\u0061", b"1", b"0", b"-", b".", b"e", b"E", b"+", b"true",
    b"null", b"fals", b'"a"', b'"\\u0061"', b'"k":', b"\xff", b"\x00", b"\x1f", b"\xc3\xa9",
    b"\xed\xa0\x80", b"2", b"3", b"4", b'"id"', b'"A"', b"NaN", b"\x0b",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join)

message_ids = st.text(max_size=40) | st.text(alphabet="x", min_size=35, max_size=38)
loose_strings = st.text(alphabet=st.characters() | surrogates, max_size=12)
payloads = st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4)


@st.composite
def ocpp_frames(draw: st.DrawFn) -> list[Any]:
    """The elements of a frame of any Message Type Number, mostly well formed."""
    odds = draw(st.integers(0, 9))  # 0: something odd about the type or id
    message_type = draw(st.integers(-3, 12)) if odds == 0 else draw(st.sampled_from(range(2, 7)))
    if odds == 1:
        message_id: Any = draw(st.sampled_from([17, None, ["id"], 2.5]))
    elif odds == 2:
        message_id = draw(message_ids | loose_strings)
    else:
        message_id = draw(st.text(max_size=36))
    payload = draw(payloads | json_values) if draw(st.integers(0, 9)) == 0 else draw(payloads)
    if message_type in (2, 6):
        elements = [message_type, message_id, draw(st.text(max_size=30)), payload]
    elif message_type == 3:
        elements = [message_type, message_id, payload]
    elif message_type in (4, 5):
        description = draw(st.text(max_size=300) | loose_strings)
        elements = [message_type, message_id, draw(st.text(max_size=20)), description, payload]
    else:
        elements = [message_type, message_id, *draw(st.lists(json_values, max_size=4))]
    if draw(st.integers(0, 9)) == 0:  # a wrong element count
        elements = elements[: draw(st.integers(0, len(elements)))] + draw(
            st.lists(json_values, max_size=2)
        )
    return elements


@st.composite
def frame_texts(draw: st.DrawFn) -> bytes | str:
    """An encoded frame: as bytes when it can be UTF-8, sometimes as str (lone surrogates
    included, when ensure_ascii is off)."""
    text = draw(dumps(draw(ocpp_frames())))
    try:
        data = text.encode()
    except UnicodeEncodeError:
        return text
    return text if draw(st.booleans()) else data


@st.composite
def valid_frame_bytes(draw: st.DrawFn) -> bytes:
    message_id = draw(st.text(max_size=36))
    payload = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4))
    frames = [
        [2, message_id, "BootNotification", payload],
        [3, message_id, payload],
        [4, message_id, "GenericError", draw(st.text(max_size=40)), payload],
        [5, message_id, "FormatViolation", "", payload],
        [6, message_id, "NotifyEventStream", payload],
    ]
    return draw(dumps(draw(st.sampled_from(frames)))).encode()


SURROGATE_ESCAPES = [b"\\ud800", b"\\udc00", b"\\ud800\\u0041", b"\\udbff\\udfff", b"\\ud83d"]


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """A valid frame with 1-3 mutations: a byte deleted, inserted or replaced, a duplicated
    key, truncation, a lone surrogate escape, or deep nesting."""
    data = bytearray(draw(valid_frame_bytes()))
    for _ in range(draw(st.integers(1, 3))):
        n = len(data)
        op = draw(
            st.sampled_from(
                ["delete", "insert", "replace", "dup_key", "truncate", "surrogate", "deep"]
            )
        )
        if op == "delete" and n:
            del data[draw(st.integers(0, n - 1))]
        elif op == "insert":
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=1))
        elif op == "replace" and n:
            i = draw(st.integers(0, n - 1))
            data[i : i + 1] = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=1))
        elif op == "dup_key":
            braces = [i for i, c in enumerate(data) if c == 0x7B]
            if braces:
                i = draw(st.sampled_from(braces)) + 1
                key = draw(st.sampled_from([b'"k"', b'"\\u006b"', b'"a"', b'""']))
                pair = b'"k":0,' + key + b":1"
                data[i:i] = pair if i < n and data[i] == 0x7D else pair + b","
        elif op == "truncate":
            del data[draw(st.integers(0, n)) :]
        elif op == "surrogate":
            quotes = [i for i, c in enumerate(data) if c == 0x22]
            if quotes:
                i = draw(st.sampled_from(quotes)) + 1
                data[i:i] = draw(st.sampled_from(SURROGATE_ESCAPES))
        elif op == "deep":
            k = draw(st.integers(1, 120))
            i = draw(st.integers(0, n))
            opener = draw(st.sampled_from([b"[", b'{"a":']))
            closer = b"]" if opener == b"[" else b"}"
            data[i:i] = opener * k
            if draw(st.booleans()):
                j = draw(st.integers(i + len(opener) * k, len(data)))
                data[j:j] = closer * k
    return bytes(data)


# --------------------------------------------------------------------------------------------
# Properties

BIG_OBJECT = b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(1000)) + b',"k999":0}'


@CHEAP
@given(data=st.binary(max_size=300) | token_soup, max_depth=depths, max_size=small_sizes)
@example(data=b"", max_depth=1, max_size=None)
@example(data=b'{"\\n\xff":1}', max_depth=1, max_size=None)  # escaped key, not UTF-8
@example(data=b'{"\\n\xff":1,"\\n\xff":2}', max_depth=3, max_size=None)
@example(data=b"[" * 100_000, max_depth=80, max_size=None)
@example(data=b'{"a":' * 100_000, max_depth=80, max_size=None)
@example(data=BIG_OBJECT, max_depth=2, max_size=None)
@example(data=b"[" + b"9" * 5000 + b"]", max_depth=2, max_size=None)
@example(data=b"[NaN, Infinity, -Infinity]", max_depth=2, max_size=None)
@example(data=b'["\\ud800", "\\udc00", "\\ud800\\u0041"]', max_depth=2, max_size=None)
@example(data=b'[2,"\xed\xa0\x80","A",{}]', max_depth=2, max_size=None)
@example(data=b'[2,"id","A",{"a":1,"\\u0061":2}]', max_depth=3, max_size=10)
def test_random_bytes_rfc8259_and_j16_4_1_2(
    data: bytes, max_depth: int, max_size: int | None
) -> None:
    """RFC 8259 and J16 4.1.2 / J201 4.2.3: any bytes at all, same verdict on both backends."""
    check(data, max_depth, max_size)


@CHEAP
@given(data=st.text(alphabet=st.characters() | surrogates, max_size=60), max_size=small_sizes)
@example(data='[2,"a\ud800","A",{}]', max_size=None)
@example(data='[2,"id","A",{"s":"\udc00"}]', max_size=None)
@example(data='[2,"a\ud800","A",{"s":"xxxxxxxxxxxxxxxx"}]', max_size=20)
def test_random_text_j16_4_1_2(data: str, max_size: int | None) -> None:
    """J16 4.1.2: str frames, lone surrogates included, decode alike on both backends."""
    check(data, 64, max_size)


@SETTINGS
@given(data=json_texts(), max_depth=depths)
@example(data=b'{"k0":' + b"1" * 64 + b',"k1":' + b"1" * 65 + b"}", max_depth=1)
@example(data=b"[" * 80 + b"]" * 80, max_depth=80)
@example(data=b"[" * 81 + b"]" * 81, max_depth=80)
def test_json_texts_rfc8259_2(data: bytes, max_depth: int) -> None:
    """RFC 8259 2: JSON texts with random whitespace scan alike; when accepted, the bounds of
    the top-level elements slice out exactly the values json.loads sees."""
    outcome = assert_scan_agrees(data, max_depth)
    if outcome[0] == "ok" and outcome[1][0] == 0x5B:
        _, count, bounds = outcome[1]
        elements = json.loads(data)
        assert count == len(elements)
        for index in range(0, len(bounds), 2):
            element = json.loads(data[bounds[index] : bounds[index + 1]])
            assert element == elements[index // 2]
    assert_decode_agrees(data, max_depth=max_depth)


@SETTINGS
@given(data=frame_texts(), max_depth=depths, max_size=small_sizes)
@example(data=b'[2,"id","A",null]', max_depth=2, max_size=None)
@example(data=b'[5,"id","E","d",{}]', max_depth=2, max_size=None)
@example(data=b'[6,"id","A",{}]', max_depth=2, max_size=None)
@example(data=b'[7,"id"]', max_depth=2, max_size=None)
@example(data=b'[2,"' + b"x" * 37 + b'","A",{}]', max_depth=2, max_size=None)
@example(data='[4,"id","E","' + "😀" * 300 + '",{}]', max_depth=2, max_size=None)
def test_ocpp_frames_j16_4_2_j201_4_2_j21_4_2(
    data: bytes | str, max_depth: int, max_size: int | None
) -> None:
    """J16 4.2, J201 4.2, J21 4.2 (and J201 4.4, J21 4.4 for unknown types): frames of every
    Message Type Number, well formed or with wrong shapes, decode alike on both backends."""
    check(data, max_depth, max_size)


@SETTINGS
@given(data=mutated_frames(), max_depth=depths, max_size=small_sizes)
@example(data=b'[2,"id","A",{"k":0,"\\u006b":1}]', max_depth=3, max_size=None)
@example(data=b'[2,"id","A",{"a":"\\ud800"}]', max_depth=3, max_size=None)
@example(data=b'[2,"id","A",' + b"[" * 120, max_depth=80, max_size=None)
@example(data=b'[2,"id","Heartbeat",{', max_depth=3, max_size=None)
def test_mutated_frames_j201_4_2_3(data: bytes, max_depth: int, max_size: int | None) -> None:
    """J201 4.2.3: corrupt frames (one byte off, duplicate keys, truncated, lone surrogate
    escapes, deep nesting) get the same FrameError, to the same id, from both backends."""
    check(data, max_depth, max_size)


@SETTINGS
@given(
    message_id=st.text(max_size=40),
    name=st.text(max_size=30),
    description=st.text(max_size=300) | loose_strings | st.text(alphabet="😀é", max_size=300),
    payload=payloads,
    message_type=st.sampled_from([4, 5]),
)
@example(message_id="id", name="E", description="😀" * 300, payload=None, message_type=4)
@example(message_id="id", name="E", description="a\ud800b", payload=None, message_type=4)
def test_encoders_j16_4_2_j21_4_2_4(
    message_id: str, name: str, description: str, payload: Any, message_type: int
) -> None:
    """J16 4.2.1-4.2.3, J21 4.2.3-4.2.4: both backends encode every frame type byte for byte
    the same, and the pure decoder reads back what they wrote."""
    compiled, pure = _compiled().frame, PURE.frame
    assert compiled.encode_call(message_id, name, payload) == pure.encode_call(
        message_id, name, payload
    )
    assert compiled.encode_call_result(message_id, payload) == pure.encode_call_result(
        message_id, payload
    )
    assert compiled.encode_send(message_id, name, payload) == pure.encode_send(
        message_id, name, payload
    )
    error = compiled.encode_call_error(message_id, name, description, payload, message_type)
    assert error == pure.encode_call_error(message_id, name, description, payload, message_type)
    assert_decode_agrees(error)
    assert len(json.loads(error)[3]) <= 255
