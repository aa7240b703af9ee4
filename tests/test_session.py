"""Session: the sans-I/O RPC rules of OCPP-J (J16 4.1, J201 4.1, J21 4.1, 4.2), on both backends.

Two sessions are wired back to back where a conversation is needed; time is a number passed in.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ocppfast._core import Backend
from ocppfast._core.types import (
    CallCompleted,
    CallFailed,
    CallReceived,
    DuplicateCallRejected,
    FrameIgnored,
    FrameRejected,
    ResultDropped,
    ResultRejectedByPeer,
    SendReceived,
)
from ocppfast.exceptions import (
    CallTimeoutError,
    FormatViolationError,
    OCPPError,
    OutgoingMessageError,
    PropertyConstraintViolationError,
    SecurityError,
    SessionClosedError,
)

from .payloads import (
    HEARTBEAT_RESULT,
    HEARTBEAT_RESULT_FRAME,
    TS,
    authorize,
    reset,
    status_notification,
)


def _frames(session: Any) -> list[list[Any]]:
    return [msgspec.json.decode(f) for f in session.data_to_send()]


def _pair(core: Backend, version: str) -> tuple[Any, Any]:
    return (
        core.session.Session(version, id_prefix="csms"),
        core.session.Session(version, id_prefix="cs"),
    )


def _deliver(src: Any, dst: Any, now: float = 0.0) -> list[Any]:
    events: list[Any] = []
    for frame in src.data_to_send():
        events.extend(dst.receive(frame, now))
    return events


def test_call_and_result_round_trip(core: Backend, version: str) -> None:
    """J201 4.2.1, 4.2.2: a CALL is answered by a CALLRESULT with the same message id."""
    csms, cs = _pair(core, version)
    message_id = cs.call("Heartbeat", {}, now=0.0)
    [received] = _deliver(cs, csms)
    assert isinstance(received, CallReceived)
    assert received.call.message_id == message_id
    assert received.call.action == "Heartbeat"
    csms.respond(message_id, HEARTBEAT_RESULT)
    [done] = _deliver(csms, cs)
    assert isinstance(done, CallCompleted) and done.message_id == message_id
    assert done.action == "Heartbeat"
    assert done.response.current_time.isoformat() == "2026-11-21T12:00:00+00:00"
    assert cs.outstanding_call is None


def test_message_ids_are_unique_and_at_most_36_characters(core: Backend, version: str) -> None:
    """J201 4.1.4 and E201 4.2: ids differ from every id the sender used before, on any
    connection of the same station: a random prefix per session plus a counter."""
    a = core.session.Session(version)
    b = core.session.Session(version)
    ids = set()
    for i in range(200):
        for s in (a, b):
            ids.add(s.call("Heartbeat", {}, now=float(i)))
            s.expire(float(i) + 1000)
    assert len(ids) == 400
    assert all(len(i) <= 36 for i in ids)


def test_one_outstanding_call_others_wait_in_order(core: Backend, version: str) -> None:
    """J16 4.1.1 / J201 4.1.1: no CALL goes out while an earlier one awaits its answer; queued
    CALLs go out in order as each one is answered."""
    _, cs = _pair(core, version)
    first = cs.call("Heartbeat", {}, now=0.0)
    second = cs.call("StatusNotification", status_notification(version), now=0.0)
    third = cs.call("Authorize", authorize(version), now=0.0)
    assert [f[1] for f in _frames(cs)] == [first]
    assert cs.queued_calls == 2
    cs.receive(f'[3,"{first}",{HEARTBEAT_RESULT_FRAME}]', now=1.0)
    assert [f[1:3] for f in _frames(cs)] == [[second, "StatusNotification"]]
    cs.receive(f'[4,"{second}","InternalError","",{{}}]', now=2.0)
    assert [f[1:3] for f in _frames(cs)] == [[third, "Authorize"]]
    assert cs.queued_calls == 0


def test_calls_from_both_sides_may_cross(core: Backend, version: str) -> None:
    """J16 4.1.1 NOTE: a CALL from the peer may arrive while ours is pending; both complete."""
    csms, cs = _pair(core, version)
    ours = cs.call("Heartbeat", {}, now=0.0)
    theirs = csms.call("Reset", reset(version), now=0.0)
    [their_call] = _deliver(csms, cs)
    assert isinstance(their_call, CallReceived) and their_call.call.message_id == theirs
    [our_call] = _deliver(cs, csms)
    assert isinstance(our_call, CallReceived) and our_call.call.message_id == ours
    cs.respond(theirs, {"status": "Accepted"})
    csms.respond(ours, HEARTBEAT_RESULT)
    assert isinstance(_deliver(cs, csms)[0], CallCompleted)
    assert isinstance(_deliver(csms, cs)[0], CallCompleted)


def test_unknown_result_is_dropped_not_taken_for_another_call(core: Backend, version: str) -> None:
    """J201 4.1.4: results are matched by message id only; an unknown one is dropped."""
    _, cs = _pair(core, version)
    pending = cs.call("Heartbeat", {}, now=0.0)
    cs.data_to_send()
    events = cs.receive('[3,"not-ours",{}]', now=1.0)
    assert events == [ResultDropped("not-ours", 3, False)]
    assert cs.outstanding_call == pending
    events = cs.receive('[4,"not-ours","GenericError","",{}]', now=1.0)
    assert events == [ResultDropped("not-ours", 4, False)]
    assert cs.data_to_send() == []


def test_timeout_fires_from_now_and_late_result_is_dropped(core: Backend, version: str) -> None:
    """J16 4.1.1: a CALL times out after an implementation-chosen interval; its late answer is
    dropped (reported as late) and never consumed as the answer to the next CALL."""
    csms, cs = _pair(core, version)
    first = cs.call("Heartbeat", {}, now=100.0, timeout=5.0)
    second = cs.call("Heartbeat", {}, now=100.0, timeout=5.0)
    _deliver(cs, csms)
    assert cs.next_deadline() == 105.0
    assert cs.expire(104.999) == []
    [failed] = cs.expire(105.0)
    assert isinstance(failed, CallFailed) and failed.message_id == first
    assert isinstance(failed.error, CallTimeoutError)
    assert [f[1] for f in _frames(cs)] == [second]  # the next one went out at the timeout
    assert cs.next_deadline() == 110.0
    csms.respond(first, HEARTBEAT_RESULT)
    [dropped] = _deliver(csms, cs, now=106.0)
    assert dropped == ResultDropped(first, 3, True)
    assert cs.outstanding_call == second


def test_receive_applies_timeouts_before_matching(core: Backend, version: str) -> None:
    """A result arriving after its deadline is late even if expire() was not called first."""
    _, cs = _pair(core, version)
    first = cs.call("Heartbeat", {}, now=0.0, timeout=1.0)
    cs.data_to_send()
    events = cs.receive(f'[3,"{first}",{{}}]', now=2.0)
    assert isinstance(events[0], CallFailed) and isinstance(events[0].error, CallTimeoutError)
    assert events[1] == ResultDropped(first, 3, True)


def test_callerror_fails_the_call_with_the_typed_error(core: Backend, version: str) -> None:
    """J201 4.2.3: a CALLERROR answers the CALL; its code becomes the matching exception, in
    either spelling (J16E 5.1, 5.2)."""
    _, cs = _pair(core, version)
    first = cs.call("Authorize", authorize(version), now=0.0)
    cs.data_to_send()
    [failed] = cs.receive(
        f'[4,"{first}","FormationViolation","bad idTag",{{"field":"idTag"}}]', now=0.0
    )
    assert isinstance(failed, CallFailed)
    assert failed.error == FormatViolationError("bad idTag", {"field": "idTag"})
    second = cs.call("Authorize", authorize(version), now=0.0)
    cs.data_to_send()
    [failed] = cs.receive(f'[4,"{second}","SecurityError","",{{}}]', now=0.0)
    assert isinstance(failed.error, SecurityError)


def test_duplicate_call_id_answered_with_callerror_handler_runs_once(
    core: Backend, version: str
) -> None:
    """J16 4.2.3 / J201 4.2.3: "an existing call with the same unique identifier is being handled
    already" gets a CALLERROR; the CALL is handed out once."""
    csms, _ = _pair(core, version)
    frame = '[2,"dup-1","Heartbeat",{}]'
    [first] = csms.receive(frame, now=0.0)
    assert isinstance(first, CallReceived)
    [second] = csms.receive(frame, now=0.0)
    assert second == DuplicateCallRejected("dup-1", "Heartbeat")
    [error] = _frames(csms)
    expected_code = "ProtocolError" if version == "ocpp1.6" else "RpcFrameworkError"
    assert error[:3] == [4, "dup-1", expected_code]
    csms.respond("dup-1", HEARTBEAT_RESULT)
    assert _frames(csms) == [[3, "dup-1", HEARTBEAT_RESULT]]
    # Once answered, the id may be used again (a retry after a lost answer).
    [again] = csms.receive(frame, now=0.0)
    assert isinstance(again, CallReceived)


def test_respond_error_uses_the_version_spelling(core: Backend, version: str) -> None:
    """J16 4.2.3 keeps FormationViolation / OccurenceConstraintViolation; 2.x says
    FormatViolation / OccurrenceConstraintViolation (J201 4.3)."""
    csms, _ = _pair(core, version)
    csms.receive('[2,"a","Heartbeat",{}]', now=0.0)
    csms.respond_error("a", FormatViolationError("x"))
    [frame] = _frames(csms)
    assert frame == [
        4,
        "a",
        "FormationViolation" if version == "ocpp1.6" else "FormatViolation",
        "x",
        {},
    ]


def test_respond_twice_or_to_unknown_id_is_a_programming_error(core: Backend, version: str) -> None:
    csms, _ = _pair(core, version)
    csms.receive('[2,"a","Heartbeat",{}]', now=0.0)
    csms.respond("a", HEARTBEAT_RESULT)
    with pytest.raises(ValueError, match="no CALL with message id"):
        csms.respond("a", HEARTBEAT_RESULT)
    with pytest.raises(ValueError):
        csms.respond_error("nope", SecurityError())


def test_close_fails_every_pending_call(core: Backend, version: str) -> None:
    """Closing fails the outstanding and the queued CALLs with a clear error."""
    _, cs = _pair(core, version)
    ids = [cs.call("Heartbeat", {}, now=0.0) for _ in range(3)]
    events = cs.close("peer went away")
    assert [e.message_id for e in events] == ids
    for event in events:
        assert isinstance(event, CallFailed)
        assert isinstance(event.error, SessionClosedError)
        assert "peer went away" in str(event.error)
    assert cs.close() == []
    with pytest.raises(SessionClosedError, match="cannot send Heartbeat: the connection is closed"):
        cs.call("Heartbeat", {}, now=0.0)
    assert cs.receive('[2,"x","Heartbeat",{}]', now=0.0) == []


def test_answering_after_close_says_so(core: Backend, version: str) -> None:
    """A handler that finishes after the connection closed gets a clear error, not a silent
    success: its answer cannot reach the peer."""
    csms, _ = _pair(core, version)
    csms.receive('[2,"h1","Heartbeat",{}]', now=0.0)
    csms.close()
    with pytest.raises(
        SessionClosedError, match="cannot send the answer to Heartbeat: the connection is closed"
    ):
        csms.respond("h1", HEARTBEAT_RESULT)
    assert csms.data_to_send() == []


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("not json", [4, "-1"]),
        ("[2,", [4, "-1"]),
        ('{"a":1}', [4, "-1"]),
        ('[2,"abc","Heartbeat",{"a":1,"a":2}]', [4, "abc"]),
        ('[2,"abc","Heartbeat",[]]', [4, "abc"]),
    ],
)
def test_malformed_call_is_answered_and_session_carries_on(
    core: Backend, version: str, frame: str, expected: list[Any]
) -> None:
    """J201 4.2.3: a corrupt message gets a CALLERROR, with "-1" as id when the id cannot be
    read; the session stays usable."""
    csms, _ = _pair(core, version)
    [event] = csms.receive(frame, now=0.0)
    assert isinstance(event, FrameRejected) and event.answered
    [error] = _frames(csms)
    assert error[:2] == expected
    assert len(error) == 5 and error[4] == {}
    [ok] = csms.receive('[2,"next","Heartbeat",{}]', now=0.0)
    assert isinstance(ok, CallReceived)


def test_unknown_message_type(core: Backend, version: str) -> None:
    """J16 4.1.3 and J21 4.4: ignore a message with an unknown Message Type Number;
    J201 4.4: 2.0.1 answers it with CALLERROR MessageTypeNotSupported."""
    csms, _ = _pair(core, version)
    events = csms.receive('[9,"m1",{}]', now=0.0)
    if version == "ocpp2.0.1":
        assert isinstance(events[0], FrameRejected) and events[0].answered
        assert _frames(csms) == [
            [4, "m1", "MessageTypeNotSupported", events[0].error.description, {}]
        ]
    else:
        assert events == [FrameIgnored(9, "m1")]
        assert csms.data_to_send() == []


def test_send_is_never_answered(core: Backend) -> None:
    """J21 4.2.4: a SEND gets no CALLRESULT or CALLERROR, even when malformed, and may go out
    while a CALL is outstanding (J21 4.1.1 NOTE)."""
    csms, cs = _pair(core, "ocpp2.1")
    cs.call("Heartbeat", {}, now=0.0)
    cs.send(
        "NotifyPeriodicEventStream",
        {"id": 1, "pending": 0, "basetime": TS, "data": [{"t": 0, "v": "230.1"}]},
    )
    frames = _frames(cs)
    assert [f[0] for f in frames] == [2, 6]
    [event] = csms.receive(msgspec.json.encode(frames[1]), now=0.0)
    assert isinstance(event, SendReceived)
    assert event.send.action == "NotifyPeriodicEventStream"
    [bad] = csms.receive('[6,"s2","NotifyPeriodicEventStream",[]]', now=0.0)
    assert isinstance(bad, FrameRejected) and not bad.answered
    assert csms.data_to_send() == []


@pytest.mark.parametrize("version_", ["ocpp1.6", "ocpp2.0.1"])
def test_send_exists_only_in_21(core: Backend, version_: str) -> None:
    """J21 4.1.3: SEND (6) is new in 2.1."""
    with pytest.raises(ValueError, match=r"ocpp2\.1 only"):
        core.session.Session(version_).send("NotifyPeriodicEventStream", {})


STREAM = {"id": 1, "pending": 0, "basetime": TS, "data": [{"t": 0, "v": "230.1"}]}


@pytest.mark.parametrize("check_outgoing", [True, False])
def test_call_takes_only_actions_that_have_a_response(
    core: Backend, version: str, check_outgoing: bool
) -> None:
    """A CALL is answered with its action's response; a 2.1 SEND message has none (J21 4.2.4)
    and an unknown action neither. call() refuses both, checked outgoing messages or not,
    before anything is queued: a CALLRESULT to it could not be decoded (it used to raise
    KeyError out of receive(), leaving the CALL neither completed nor failed)."""
    validator = core.validator.Validator(version, check_outgoing=check_outgoing)
    cs = core.session.Session(version, validator=validator)
    if version == "ocpp2.1":
        with pytest.raises(OutgoingMessageError, match="SEND message, not a CALL: send"):
            cs.call("NotifyPeriodicEventStream", STREAM, now=0.0)
    with pytest.raises(OutgoingMessageError, match="has no CALL action 'FlyToTheMoon'"):
        cs.call("FlyToTheMoon", {}, now=0.0)
    assert cs.data_to_send() == [] and cs.outstanding_call is None
    message_id = cs.call("Heartbeat", {}, now=0.0)
    assert _frames(cs)[0][:3] == [2, message_id, "Heartbeat"]


def test_send_takes_only_send_messages(core: Backend) -> None:
    """J21 4.2.4: SEND is for the messages defined as such (NotifyPeriodicEventStream); a CALL
    action sent as SEND would never be answered. send() refuses it, checked outgoing messages
    or not."""
    for check_outgoing in (True, False):
        validator = core.validator.Validator("ocpp2.1", check_outgoing=check_outgoing)
        cs = core.session.Session("ocpp2.1", validator=validator)
        with pytest.raises(OutgoingMessageError, match="CALL action, not a SEND message: call"):
            cs.send("Heartbeat", {})
        with pytest.raises(OutgoingMessageError, match="has no SEND action 'FlyToTheMoon'"):
            cs.send("FlyToTheMoon", {})
        assert cs.data_to_send() == []
        cs.send("NotifyPeriodicEventStream", STREAM)
        assert [f[0] for f in _frames(cs)] == [6]


def test_session_takes_no_dispatcher_argument(core: Backend) -> None:
    """A Session takes no dispatcher argument: one is attached with attach() (which refuses a
    dispatcher with another validator: test_dispatcher.py)."""
    with pytest.raises(TypeError):
        core.session.Session("ocpp1.6", dispatcher=None)


def test_invalid_callresult_in_21_gets_callresulterror(core: Backend) -> None:
    """J21 4.2.3: a CALLRESULT that cannot be processed is answered with a CALLRESULTERROR; the
    CALL it answered fails at once instead of waiting for its timeout."""
    _, cs = _pair(core, "ocpp2.1")
    pending = cs.call("Heartbeat", {}, now=0.0)
    cs.data_to_send()
    events = cs.receive(f'[3,"{pending}",[1,2]]', now=0.0)
    assert isinstance(events[0], CallFailed) and isinstance(events[0].error, OCPPError)
    assert isinstance(events[1], FrameRejected) and events[1].answered
    [frame] = _frames(cs)
    assert frame[:3] == [5, pending, "FormatViolation"]


@pytest.mark.parametrize("version_", ["ocpp1.6", "ocpp2.0.1"])
def test_invalid_callresult_before_21_fails_call_sends_nothing(
    core: Backend, version_: str
) -> None:
    """Before 2.1 a CALLRESULT cannot be answered (J16 4.2.3: CALLERROR answers CALLs only);
    the CALL fails and nothing goes out."""
    _, cs = _pair(core, version_)
    pending = cs.call("Heartbeat", {}, now=0.0)
    cs.data_to_send()
    events = cs.receive(f'[3,"{pending}",5]', now=0.0)
    assert isinstance(events[0], CallFailed)
    assert isinstance(events[1], FrameRejected) and not events[1].answered
    assert cs.data_to_send() == []


def test_reject_result_after_validation(core: Backend, version: str) -> None:
    """A layer above that finds a CALLRESULT invalid (e.g. against its schema) reports it; on 2.1
    that is a CALLRESULTERROR (J21 4.2.3), before 2.1 nothing can be sent."""
    _, cs = _pair(core, version)
    cs.reject_result("m7", PropertyConstraintViolationError("interval: -1 < 0"))
    frames = _frames(cs)
    if version == "ocpp2.1":
        assert frames == [[5, "m7", "PropertyConstraintViolation", "interval: -1 < 0", {}]]
    else:
        assert frames == []


def test_callresulterror_from_peer_is_reported(core: Backend) -> None:
    """J21 4.2.3: the peer tells us our CALLRESULT was rejected."""
    csms, _ = _pair(core, "ocpp2.1")
    [event] = csms.receive('[5,"m1","FormatViolation","bad",{}]', now=0.0)
    assert event == ResultRejectedByPeer("m1", "FormatViolation", "bad")
    assert csms.data_to_send() == []


def test_types_5_and_6_are_ignored_in_16(core: Backend) -> None:
    """J16 4.1.3: CALLRESULTERROR and SEND are unknown types in 1.6, ignored."""
    csms, _ = _pair(core, "ocpp1.6")
    assert csms.receive('[6,"s","NotifyPeriodicEventStream",{}]', now=0.0) == [FrameIgnored(6, "s")]
    assert csms.data_to_send() == []


def test_options_are_checked(core: Backend) -> None:
    with pytest.raises(ValueError, match="unknown OCPP version"):
        core.session.Session("ocpp1.5")
    with pytest.raises(ValueError):
        core.session.Session("ocpp1.6", call_timeout=0)
    with pytest.raises(ValueError):
        core.session.Session("ocpp1.6", id_prefix="x" * 20)


def test_frame_limits_are_per_session(core: Backend, version: str) -> None:
    """max_frame_bytes and max_depth apply to what the session receives."""
    csms = core.session.Session(version, max_frame_bytes=64, max_depth=3)
    [event] = csms.receive('[2,"a","Heartbeat",{"x":"' + "y" * 100 + '"}]', now=0.0)
    assert (
        isinstance(event, FrameRejected)
        and "exceeds the limit of 64 bytes" in event.error.description
    )
    [event] = csms.receive('[2,"b","Heartbeat",{"x":[[1]]}]', now=0.0)
    assert isinstance(event, FrameRejected) and "nesting too deep" in event.error.description
    [event] = csms.receive('[2,"c","Heartbeat",{"x":[1]}]', now=0.0)
    assert isinstance(event, CallReceived)
