"""The OCPP-J frame codec, `decode_frame` and the encoders, per version, on both backends.

The error code each fault gets is the design's mapping (docs/protocol.md, frame.py):

=====================================  =====================  =========================
fault                                  ocpp1.6                ocpp2.0.1 / ocpp2.1
=====================================  =====================  =========================
not UTF-8 / not JSON / not an array /  FormationViolation     RpcFrameworkError
bad type or id (message id "-1")
fewer than 2 elements, or fewer than   ProtocolError          RpcFrameworkError
the type needs
more elements than the type has        FormationViolation     RpcFrameworkError
broken JSON or oversize frame, with    FormationViolation     FormatViolation
the id readable from its prefix
payload not an object                  FormationViolation     FormatViolation
unknown Message Type Number            ignored: UnknownFrame  2.0.1: MessageTypeNotSupported;
                                                              2.1: ignored: UnknownFrame
=====================================  =====================  =========================
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ocppfast._core import Backend
from ocppfast._core.types import (
    Call,
    CallError,
    CallResult,
    CallResultError,
    FrameError,
    Send,
    UnknownFrame,
)

V16, V201, V21 = "ocpp1.6", "ocpp2.0.1", "ocpp2.1"
MB10 = 10 * 1024 * 1024

# Codes per version: (not a frame, too few elements, broken payload with readable id).
NOT_A_FRAME = {V16: "FormationViolation", V201: "RpcFrameworkError", V21: "RpcFrameworkError"}
TOO_FEW = {V16: "ProtocolError", V201: "RpcFrameworkError", V21: "RpcFrameworkError"}
TOO_MANY = {V16: "FormationViolation", V201: "RpcFrameworkError", V21: "RpcFrameworkError"}
PAYLOAD = {V16: "FormationViolation", V201: "FormatViolation", V21: "FormatViolation"}


def decode(core: Backend, data: bytes | str, version: str, **limits: int) -> Any:
    return core.frame.decode_frame(data, version, **limits)


def frame_error(core: Backend, data: bytes | str, version: str, **limits: int) -> FrameError:
    """The FrameError that decoding `data` raises (and nothing else: any other exception
    propagates and fails the test)."""
    with pytest.raises(FrameError) as info:
        core.frame.decode_frame(data, version, **limits)
    return info.value


def fields(error: FrameError) -> tuple[str, str, int | None]:
    return error.code, error.message_id, error.message_type


# --------------------------------------------------------------------------------------------
# Valid frames: encode, then decode


def test_call_round_trip_j16_4_2_1(core: Backend, version: str) -> None:
    """J16 4.2.1, J201 4.2.1, J21 4.2.1: [2, "<MessageId>", "<Action>", {<Payload>}]."""
    payload = {"chargePointVendor": "VendorX", "nested": {"list": [1, 2.5, None, True]}}
    data = core.frame.encode_call("19223201", "BootNotification", payload)
    frame = decode(core, data, version)
    assert frame == Call("19223201", "BootNotification", data[data.index(b"{") : -1])
    assert isinstance(frame.payload, bytes)
    assert json.loads(frame.payload) == payload


def test_call_result_round_trip_j16_4_2_2(core: Backend, version: str) -> None:
    """J16 4.2.2, J201 4.2.2, J21 4.2.2: [3, "<MessageId>", {<Payload>}]."""
    payload = {"status": "Accepted", "interval": 300}
    data = core.frame.encode_call_result("19223201", payload)
    frame = decode(core, data, version)
    assert isinstance(frame, CallResult)
    assert frame.message_id == "19223201"
    assert json.loads(frame.payload) == payload


def test_call_error_round_trip_j16_4_2_3(core: Backend, version: str) -> None:
    """J16 4.2.3, J201 4.2.3, J21 4.2.3: [4, "<MessageId>", "<errorCode>",
    "<errorDescription>", {<errorDetails>}]."""
    data = core.frame.encode_call_error("162376037", "NotSupported", "not here", {"why": "x"})
    frame = decode(core, data, version)
    assert frame == CallError("162376037", "NotSupported", "not here", b'{"why":"x"}')


def test_call_result_error_and_send_decode_on_2_1_j21_4_2_3_and_4_2_4(core: Backend) -> None:
    """J21 4.2.3 (CALLRESULTERROR [5, ...]) and J21 4.2.4 (SEND [6, ...]) decode on 2.1."""
    data = core.frame.encode_call_error("m1", "FormatViolation", "bad result", None, 5)
    assert decode(core, data, V21) == CallResultError("m1", "FormatViolation", "bad result", b"{}")
    data = core.frame.encode_send("m2", "NotifyPeriodicEventStream", {"id": 1})
    assert decode(core, data, V21) == Send("m2", "NotifyPeriodicEventStream", b'{"id":1}')


def test_payload_kept_as_raw_bytes_j201_4_1_5(core: Backend, version: str) -> None:
    """J201 4.1.5: the payload is a JSON object; it is handed on byte for byte, whitespace,
    escapes and key order untouched."""
    payload = b'{ "b" : [1, 2] ,\n "a":"\\u00e9\\n", "c": {"d": null} }'
    frame = decode(core, b'[2,\t"id" ,"A",' + payload + b"\r\n]", version)
    assert frame == Call("id", "A", payload)
    frame = decode(core, b'[3,"id",' + payload + b"]", version)
    assert frame == CallResult("id", payload)
    frame = decode(core, b'[4,"id","E","d",' + payload + b"]", version)
    assert frame == CallError("id", "E", "d", payload)


def test_null_payload_reads_as_empty_object_j16_4_2_1(core: Backend, version: str) -> None:
    """J16 4.2.1/4.2.2, J201 4.1.5: "no payload" may be written null or {}; both give b"{}"."""
    assert decode(core, b'[2,"id","Heartbeat",null]', version) == Call("id", "Heartbeat", b"{}")
    assert decode(core, b'[3,"id",null]', version) == CallResult("id", b"{}")
    assert decode(core, b'[4,"id","E","",null]', version) == CallError("id", "E", "", b"{}")
    assert decode(core, b'[2,"id","Heartbeat",{}]', version) == Call("id", "Heartbeat", b"{}")


def test_strings_are_unescaped_j16_4_1_2(core: Backend, version: str) -> None:
    """J16 4.1.2: the envelope's strings are JSON strings; escapes in them are decoded."""
    data = '[4,"\\u0069d-\\ud83d\\ude00","Generic\\u0045rror","line\\none \\"q\\" é",{}]'
    frame = decode(core, data.encode(), version)
    assert frame == CallError("id-😀", "GenericError", 'line\none "q" é', b"{}")


@pytest.mark.parametrize("char", ["x", "é", "😀"])
def test_message_id_of_36_characters_j16_4_1_4(core: Backend, version: str, char: str) -> None:
    """J16 4.1.4, J201 4.1.4: the message id is at most 36 characters (code points, not bytes):
    36 decodes, 37 is refused with message id "-1"."""
    ok_id = char * 36
    assert decode(core, core.frame.encode_call(ok_id, "A", {}), version).message_id == ok_id
    error = frame_error(core, core.frame.encode_call(char * 37, "A", {}), version)
    assert fields(error) == (NOT_A_FRAME[version], "-1", 2)
    error = frame_error(core, core.frame.encode_call_result(char * 37, {}), version)
    assert fields(error) == (NOT_A_FRAME[version], "-1", 3)


def test_str_and_bytes_input_j16_4_1_2(core: Backend, version: str) -> None:
    """J16 4.1.2: a frame arrives as text (str) or as its UTF-8 (bytes); both decode alike."""
    text = '[2,"id-é","DataTransfer",{"data":"héllo 😀"}]'
    from_str = decode(core, text, version)
    assert from_str == decode(core, text.encode(), version)
    assert from_str == Call("id-é", "DataTransfer", '{"data":"héllo 😀"}'.encode())


def test_defaults_j16_4_1_2(core: Backend) -> None:
    """J16 4.1.2: the default limits are 1 MiB per frame and 64 levels of nesting."""
    assert core.frame.DEFAULT_MAX_FRAME_BYTES == 1 << 20
    assert core.frame.DEFAULT_MAX_DEPTH == 64


# --------------------------------------------------------------------------------------------
# Not a frame at all: message id "-1" (J201 4.2.3), RpcFrameworkError on 2.x


@pytest.mark.parametrize(
    ("data", "message_type"),
    [
        (b"\xff", None),  # not UTF-8
        (b'["\xff"]', None),
        (b'[2,"\xff","A",{}]', 2),  # the id is not readable UTF-8
        (b'[2,"a\xed\xa0\x80","A",{}]', 2),  # a raw (UTF-8 encoded) surrogate
        ("\ud800", None),  # a str that cannot be UTF-8
        ('[2,"a\ud800","A",{}]', 2),  # ... with the surrogate in the message id
        (b"", None),  # not JSON
        (b"hello", None),
        (b"[2,'id','A',{}]", 2),
        (b'[2.5,"id","A",{', None),  # broken, and the type is not an integer
        (b'[02,"id","A",{', None),  # broken, and the type has a leading zero
        (b'[2, id, "A", {}]', 2),
        (b"{}", None),  # JSON, not an array
        (b'{"0":2,"1":"id"}', None),
        (b'"[2,\\"id\\",\\"A\\",{}]"', None),
        (b"42", None),
        (b"null", None),
        (b'[2.0,"id","A",{}]', None),  # type not an integer
        (b'[2e0,"id","A",{}]', None),
        (b'["2","id","A",{}]', None),
        (b'[-2,"id","A",{}]', None),
        (b'[null,"id","A",{}]', None),
        (b'[true,"id","A",{}]', None),
        (b'[[2],"id","A",{}]', None),
        (b'[2,5,"A",{}]', 2),  # id not a string
        (b'[2,null,"A",{}]', 2),
        (b'[2,["id"],"A",{}]', 2),
        (b"[3,{},{}]", 3),
        (b'[4,1.5,"E","d",{}]', 4),
    ],
)
def test_unreadable_frame_j201_4_2_3(
    core: Backend, version: str, data: bytes | str, message_type: int | None
) -> None:
    """J16 4.1.2 / J201 4.2.3 / J21 4.2.3: not UTF-8, not JSON, not an array, no integer type,
    no string id: 1.6 FormationViolation, 2.x RpcFrameworkError, message id "-1"."""
    error = frame_error(core, data, version)
    assert fields(error) == (NOT_A_FRAME[version], "-1", message_type)


@pytest.mark.parametrize(
    ("data", "message_type"), [(b"[]", None), (b"[2]", 2), (b'["id"]', None), (b"[ {} ]", None)]
)
def test_fewer_than_two_elements_j16_4_2(
    core: Backend, version: str, data: bytes, message_type: int | None
) -> None:
    """J16 4.2 / J201 4.2: every frame has at least a type and an id: 1.6 ProtocolError,
    2.x RpcFrameworkError, message id "-1"."""
    assert fields(frame_error(core, data, version)) == (TOO_FEW[version], "-1", message_type)


@pytest.mark.parametrize("data", [b"[7]", b"[7, 5]", b'[7, "' + b"x" * 37 + b'"]'])
def test_unknown_type_is_judged_by_its_number_alone(
    core: Backend, version: str, data: bytes
) -> None:
    """J16 4.1.3 / J21 4.4: a message of an unknown type is ignored whatever else it holds;
    J201 4.4: 2.0.1 answers MessageTypeNotSupported, to "-1" when no id can be read."""
    if version == "ocpp2.0.1":
        assert fields(frame_error(core, data, version)) == ("MessageTypeNotSupported", "-1", 7)
    else:
        assert core.frame.decode_frame(data, version) == UnknownFrame(7, None)


# --------------------------------------------------------------------------------------------
# Broken JSON with a readable prefix: answered with the id (J201 4.2.3)


@pytest.mark.parametrize(
    ("data", "message_type"),
    [
        (b'[2,"id-1","Heartbeat",{', 2),
        (b'[2,"id-1","Heartbeat",{"a":}]', 2),
        (b'[2,"id-1","Heartbeat",{"a":1,"a":2}]', 2),
        (b'[2,"id-1","Heartbeat",{"a":"\\x"}]', 2),
        (b'[2,"id-1","Heartbeat",{"a":"\\udc00"}]', 2),
        (b'[2,"id-1","Heartbeat",{"a":"\x01"}]', 2),
        (b'[2,"id-1","Heartbeat",{"a":"\xff"}]', 2),  # not UTF-8 in the payload
        ('[2,"id-1","Heartbeat",{"a":"\ud800"}]', 2),  # a str with a lone surrogate
        (b'[2,"id-1","Heartbeat",{"a":01}]', 2),
        (b'[2,"id-1","Heartbeat",{}] trailing', 2),
        (b'[2,"id-1","Heartbeat",{},]', 2),
        (b'[2,"id-1"', 2),
        (b' [ 3 , "id-1" , {"a":tru} ]', 3),
        (b'[4,"id-1","E","\\q",{}]', 4),
        (b'[7,"id-1",{', 7),
    ],
)
def test_broken_payload_keeps_the_id_j201_4_2_3(
    core: Backend, version: str, data: bytes | str, message_type: int
) -> None:
    """J201 4.2.3, J21 4.2.3: when the message id can still be read, the error is addressed
    to it: 1.6 FormationViolation, 2.x FormatViolation, with the Message Type Number."""
    error = frame_error(core, data, version)
    assert fields(error) == (PAYLOAD[version], "id-1", message_type)


def test_duplicate_key_is_named_j201_4_2_3(core: Backend, version: str) -> None:
    """J201 4.2.3: the description says which key was repeated, without echoing raw input."""
    error = frame_error(core, b'[2,"id","A",{"k\\u0065y":1,"key":2}]', version)
    assert fields(error) == (PAYLOAD[version], "id", 2)
    assert "duplicate key 'key' at byte 26" in error.description


def test_depth_limit_counts_the_frame_array_j16_4_1_2(core: Backend, version: str) -> None:
    """J16 4.1.2: max_depth counts the frame's own array: 64 levels decode, 65 do not."""
    payload = b'{"a":' * 63 + b"1" + b"}" * 63
    assert decode(core, b'[2,"id","A",' + payload + b"]", version).payload == payload
    payload = b'{"a":' * 64 + b"1" + b"}" * 64
    error = frame_error(core, b'[2,"id","A",' + payload + b"]", version)
    assert fields(error) == (PAYLOAD[version], "id", 2)
    assert decode(core, b'[2,"id","A",' + payload + b"]", version, max_depth=65).action == "A"
    assert frame_error(core, b'[2,"id","A",{}]', version, max_depth=1).message_id == "id"


# --------------------------------------------------------------------------------------------
# Size limit


def test_frame_over_max_size_j201_4_2_3(core: Backend, version: str) -> None:
    """J201 4.2.3: a 10 MB frame is refused unread (default limit 1 MiB), answered with the id
    read off its front: 1.6 FormationViolation, 2.x FormatViolation."""
    data = b'[2,"big-1","DataTransfer",{"data":"' + b"x" * MB10 + b'"}]'
    error = frame_error(core, data, version)
    assert fields(error) == (PAYLOAD[version], "big-1", 2)
    assert "exceeds the limit of 1048576 bytes" in error.description
    error = frame_error(core, data.decode(), version)
    assert fields(error) == (PAYLOAD[version], "big-1", 2)
    # Even when the body would be a fault of its own (a lone surrogate, an unterminated string).
    error = frame_error(core, data[:-3] + b"\\ud800", version)
    assert fields(error) == (PAYLOAD[version], "big-1", 2)


def test_oversize_without_readable_id_j201_4_2_3(core: Backend, version: str) -> None:
    """J201 4.2.3: an oversize frame whose id cannot be read is answered to "-1"."""
    error = frame_error(core, b" " * (2 << 20), version)
    assert fields(error) == (NOT_A_FRAME[version], "-1", None)
    error = frame_error(core, "[" * (2 << 20), version)
    assert fields(error) == (NOT_A_FRAME[version], "-1", None)
    error = frame_error(core, '[2,"a\ud800","A",{"s":"' + "x" * (2 << 20) + '"}]', version)
    assert fields(error) == (NOT_A_FRAME[version], "-1", 2)


def test_max_size_boundary_in_bytes_j16_4_1_2(core: Backend, version: str) -> None:
    """J16 4.1.2: max_size counts UTF-8 bytes, for str input too; exactly max_size is fine."""
    data = b'[2,"id","A",{"s":"' + b"x" * 100 + b'"}]'
    assert decode(core, data, version, max_size=len(data)).message_id == "id"
    error = frame_error(core, data, version, max_size=len(data) - 1)
    assert fields(error) == (PAYLOAD[version], "id", 2)
    text = '[2,"id","A",{"s":"ééé"}]'
    assert decode(core, text, version, max_size=len(text.encode())).action == "A"
    error = frame_error(core, text, version, max_size=len(text))  # 3 bytes too many
    assert fields(error) == (PAYLOAD[version], "id", 2)
    default = 1 << 20
    body = b'[3,"id",{"s":"'
    data = body + b"y" * (default - len(body) - 3) + b'"}]'
    assert len(data) == default
    assert decode(core, data, version) == CallResult("id", data[8:-1])
    error = frame_error(core, data[:-3] + b'y"}]', version)
    assert fields(error) == (PAYLOAD[version], "id", 3)


# --------------------------------------------------------------------------------------------
# Message Type Numbers


@pytest.mark.parametrize("message_type", [0, 1, 7, 8, 42, 999_999_999, 10**40])
def test_unknown_message_type_j16_4_1_3_j201_4_4_j21_4_4(
    core: Backend, version: str, message_type: int
) -> None:
    """J16 4.1.3 and J21 4.1.3/4.4: an unknown Message Type Number is ignored (UnknownFrame);
    J201 4.4: 2.0.1 answers CALLERROR MessageTypeNotSupported, addressed to the id."""
    for tail in (b"", b',"A",{}', b",1,2,3,4,5,6,7", b",[]"):
        data = b'[%d,"id-7"%s]' % (message_type, tail)
        if version == V201:
            error = frame_error(core, data, version)
            assert fields(error) == ("MessageTypeNotSupported", "id-7", message_type)
        else:
            assert decode(core, data, version) == UnknownFrame(message_type, "id-7")


@pytest.mark.parametrize(
    "data",
    [b'[5,"id-7","FormatViolation","bad",{}]', b'[6,"id-7","NotifyEventStream",{}]'],
)
def test_types_5_and_6_are_2_1_only_j21_4_1_3(core: Backend, version: str, data: bytes) -> None:
    """J21 4.1.3: CALLRESULTERROR (5) and SEND (6) exist in 2.1 only; 1.6 ignores them
    (J16 4.1.3), 2.0.1 answers MessageTypeNotSupported (J201 4.4)."""
    message_type = data[1] - 0x30
    if version == V21:
        assert isinstance(decode(core, data, version), (CallResultError, Send))
    elif version == V201:
        error = frame_error(core, data, version)
        assert fields(error) == ("MessageTypeNotSupported", "id-7", message_type)
    else:
        assert decode(core, data, version) == UnknownFrame(message_type, "id-7")


# --------------------------------------------------------------------------------------------
# Element counts and element types per Message Type

FULL = {
    2: [b"2", b'"id-8"', b'"Heartbeat"', b"{}"],
    3: [b"3", b'"id-8"', b"{}"],
    4: [b"4", b'"id-8"', b'"GenericError"', b'""', b"{}"],
    5: [b"5", b'"id-8"', b'"GenericError"', b'""', b"{}"],
    6: [b"6", b'"id-8"', b'"Heartbeat"', b"{}"],
}


def _types(version: str) -> list[int]:
    return [2, 3, 4, 5, 6] if version == V21 else [2, 3, 4]


def test_too_few_elements_j16_4_2(core: Backend, version: str) -> None:
    """J16 4.2.1-4.2.3, J201 4.2, J21 4.2: CALL has 4 elements, CALLRESULT 3, CALLERROR 5 (2.1:
    CALLRESULTERROR 5, SEND 4); fewer: 1.6 ProtocolError, 2.x RpcFrameworkError, with the id."""
    for message_type in _types(version):
        elements = FULL[message_type]
        for count in range(2, len(elements)):
            data = b"[" + b",".join(elements[:count]) + b"]"
            error = frame_error(core, data, version)
            assert fields(error) == (TOO_FEW[version], "id-8", message_type), data


def test_too_many_elements_j16_4_2(core: Backend, version: str) -> None:
    """J16 4.2, J201 4.2, J21 4.2: more elements than the type has: 1.6 FormationViolation,
    2.x RpcFrameworkError, with the id."""
    for message_type in _types(version):
        for extra in ([b"{}"], [b"null", b"1", b'"x"', b"[]", b"{}", b"true"]):
            data = b"[" + b",".join(FULL[message_type] + extra) + b"]"
            error = frame_error(core, data, version)
            assert fields(error) == (TOO_MANY[version], "id-8", message_type), data


@pytest.mark.parametrize("bad", [b"[]", b"[{}]", b"1", b'"{}"', b"true", b"false", b"0.5"])
def test_payload_not_an_object_j201_4_1_5(core: Backend, version: str, bad: bytes) -> None:
    """J16 4.2.1, J201 4.1.5: the payload (and errorDetails, J16 4.2.3) must be a JSON object
    or null: otherwise 1.6 FormationViolation, 2.x FormatViolation, with the id."""
    for message_type in _types(version):
        elements = [*FULL[message_type][:-1], bad]
        error = frame_error(core, b"[" + b",".join(elements) + b"]", version)
        assert fields(error) == (PAYLOAD[version], "id-8", message_type)


@pytest.mark.parametrize("bad", [b"1", b"null", b"{}", b'["A"]', b"true"])
def test_action_and_error_strings_j16_4_2(core: Backend, version: str, bad: bytes) -> None:
    """J16 4.2.1/4.2.3, J201 4.2.1/4.2.3: Action, errorCode and errorDescription are strings;
    otherwise 1.6 FormationViolation, 2.x RpcFrameworkError, with the id."""
    for message_type in _types(version):
        if message_type == 3:
            continue
        for index in (2, 3) if message_type in (4, 5) else (2,):
            elements = list(FULL[message_type])
            elements[index] = bad
            error = frame_error(core, b"[" + b",".join(elements) + b"]", version)
            assert fields(error) == (TOO_MANY[version], "id-8", message_type)


# --------------------------------------------------------------------------------------------
# Hostile JSON through decode_frame: a FrameError every time, never another exception


HOSTILE: list[bytes | str] = [
    b"[" * 100_000,
    b'[2,"h","A",' + b"[" * 100_000,
    b'[2,"h","A",' + b'{"a":' * 100_000,
    b'[2,"h","A",' + b"[" * 100_000 + b"]" * 100_000 + b"]",
    b'[2,"h","A",{"n":' + b"9" * 5000 + b"}]",
    b"[" + b"9" * 5000 + b',"h","A",{}]',
    b'[2,"h","A",{"n":NaN}]',
    b'[2,"h","A",{"n":Infinity}]',
    b'[2,"h","A",{"n":-Infinity}]',
    b'[NaN,"h","A",{}]',
    b'[2,"h","A",{"k":1,"k":2}]',
    b'[2,"h","A",{"k":1,"\\u006b":2}]',
    b'[2,"h","A",{"k":{"j":1,"j":2}}]',
    b'[2,"\\ud800","A",{}]',
    b'[2,"h","\\udc00",{}]',
    b'[2,"h","A",{"s":"\\ud800\\u0041"}]',
    b'[2,"h","A",{"\\udfff":1}]',
    b'[2,"h","A",{"s":"\xed\xa0\x80"}]',  # raw surrogate, UTF-8 encoded
    b'[2,"\xed\xb0\x80","A",{}]',
    '[2,"h","A",{"s":"\udc80"}]',  # raw surrogate in a str
    '[2,"\ud83d","A",{}]',
    b'[2,"h","A",{"s":"' + b"x" * MB10 + b'"}]',
    '[2,"h","A",{"s":"' + "x" * MB10 + '"}]',
    b'[2,"h","A",{"s":"' + b"\\u00e9" * (MB10 // 6) + b'"}]',
]


@pytest.mark.parametrize("index", range(len(HOSTILE)))
def test_hostile_json_gives_frame_error_j201_4_2_3(core: Backend, version: str, index: int) -> None:
    """J201 4.2.3 (a corrupt message gets a CALLERROR) with RFC 8259 6, 4, 8.2 and 9: deep
    nesting, huge numbers, NaN/Infinity, duplicate keys, lone surrogates (escaped and raw) and
    10 MB strings all give a FrameError, never another exception."""
    error = frame_error(core, HOSTILE[index], version)
    assert error.code in (NOT_A_FRAME[version], PAYLOAD[version])
    assert error.message_id in ("-1", "h")
    assert error.code == (NOT_A_FRAME[version] if error.message_id == "-1" else PAYLOAD[version])


# --------------------------------------------------------------------------------------------
# encode_call_error


def test_error_description_cut_to_255_code_points_j201_4_2_3(core: Backend, version: str) -> None:
    """J201 4.2.3: ErrorDescription is string[255]; a 300-character description of astral
    characters is cut to exactly 255 characters, never inside a character's UTF-8."""
    data = core.frame.encode_call_error("id", "GenericError", "😀" * 300)
    json.loads(data)
    frame = decode(core, data, version)
    assert frame.error_description == "😀" * 255
    assert len(frame.error_description) == 255
    data = core.frame.encode_call_error("id", "GenericError", "é" * 255)
    assert decode(core, data, version).error_description == "é" * 255
    data = core.frame.encode_call_error("id", "GenericError", "a" * 256)
    assert decode(core, data, version).error_description == "a" * 255


def test_error_details_default_to_empty_object_j16_4_2_3(core: Backend, version: str) -> None:
    """J16 4.2.3, J201 4.2.3: "If there are no error details you MUST fill in an empty object"."""
    data = core.frame.encode_call_error("id", "NotImplemented")
    assert data == b'[4,"id","NotImplemented","",{}]'
    assert decode(core, data, version) == CallError("id", "NotImplemented", "", b"{}")
    assert core.frame.encode_call_error("id", "E", "d", None).endswith(b",{}]")


def test_error_description_with_lone_surrogate_still_encodes_j16_4_1_2(
    core: Backend, version: str
) -> None:
    """J16 4.1.2: every message MUST be valid UTF-8, so an error report whose description holds
    a lone surrogate still goes out, with the surrogate replaced; so do non-JSON details."""
    data = core.frame.encode_call_error("id", "InternalError", "bad \ud800 text")
    data.decode("utf-8")
    frame = decode(core, data, version)
    assert isinstance(frame, CallError)
    assert frame.error_description.startswith("bad ")
    assert frame.error_description.endswith(" text")
    assert "\ud800" not in frame.error_description
    data = core.frame.encode_call_error("id", "InternalError", "x", {"not json": object()})
    assert decode(core, data, version) == CallError("id", "InternalError", "x", b"{}")


def test_call_result_error_encoding_j21_4_2_3(core: Backend) -> None:
    """J21 4.2.3: CALLRESULTERROR has the CALLERROR layout with Message Type Number 5."""
    data = core.frame.encode_call_error("id", "FormatViolation", "d" * 300, {"a": 1}, 5)
    assert data.startswith(b'[5,"id","FormatViolation","ddd')
    frame = decode(core, data, V21)
    assert frame == CallResultError("id", "FormatViolation", "d" * 255, b'{"a":1}')


# --------------------------------------------------------------------------------------------
# FrameError


def test_frame_error_attributes_and_equality_j201_4_2_3() -> None:
    """J201 4.2.3: a FrameError carries the code to answer with, a description, the message id
    ("-1" when unreadable) and the Message Type Number (None when unreadable)."""
    error = FrameError("RpcFrameworkError", "no id")
    assert (error.code, error.description, error.message_id, error.message_type) == (
        "RpcFrameworkError",
        "no id",
        "-1",
        None,
    )
    assert isinstance(error, Exception)
    assert str(error) == "no id"
    full = FrameError("FormatViolation", "bad", "m-1", 2)
    assert full == FrameError("FormatViolation", "bad", "m-1", 2)
    assert full != FrameError("FormationViolation", "bad", "m-1", 2)
    assert full != FrameError("FormatViolation", "other", "m-1", 2)
    assert full != FrameError("FormatViolation", "bad", "m-2", 2)
    assert full != FrameError("FormatViolation", "bad", "m-1", 3)
    assert full != FrameError("FormatViolation", "bad", "m-1")
    assert full != ("FormatViolation", "bad", "m-1", 2)
    assert repr(full) == (
        "FrameError(code='FormatViolation', description='bad', message_id='m-1', message_type=2)"
    )
    assert len({full, full}) == 1  # hashable


def test_decoded_frame_errors_compare_equal_j201_4_2_3(core: Backend, version: str) -> None:
    """J201 4.2.3: the same fault decoded twice gives equal errors, on either backend."""
    data = b'[2,"id","A",{"a":1,"a":2}]'
    assert frame_error(core, data, version) == frame_error(core, data, version)
