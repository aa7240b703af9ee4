"""Dispatcher: action -> handler per version and role (J16 4.2.3 Table 7, J201 4.3 Table 8),
and the CALLERROR a failure becomes, on both backends."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ocppfast._core import Backend
from ocppfast._core.actions import CSMS_INITIATED, STATION_INITIATED
from ocppfast._core.types import Call, CallDispatched, CallReceived, CallRefused, Send
from ocppfast.exceptions import (
    ActionNotImplementedError,
    ActionNotSupportedError,
    FormatViolationError,
    InternalError,
    OCPPError,
    OutgoingMessageError,
    SecurityError,
)

from .payloads import HEARTBEAT_RESULT, authorize, example


def _call(action: str, payload: bytes = b"{}", message_id: str = "m1") -> Call:
    return Call(message_id, action, payload)


def test_dispatch_calls_the_handler_with_the_typed_request(core: Backend, version: str) -> None:
    seen: list[Any] = []

    def authorize_handler(request: Any) -> Any:
        seen.append(request)
        return HEARTBEAT_RESULT

    dispatcher = core.dispatcher.Dispatcher(version, "csms", {"Authorize": authorize_handler})
    payload = msgspec.json.encode(authorize(version))
    assert dispatcher.dispatch(_call("Authorize", payload)) == HEARTBEAT_RESULT
    [request] = seen
    assert type(request).__name__ == "AuthorizeRequest" and request.ACTION == "Authorize"
    assert msgspec.json.encode(request) == payload
    assert dispatcher.actions == frozenset({"Authorize"})


def test_unknown_action_is_not_implemented(core: Backend, version: str) -> None:
    """J201 4.3: NotImplemented, "Requested Action is not known by receiver"."""
    dispatcher = core.dispatcher.Dispatcher(version, "csms")
    with pytest.raises(ActionNotImplementedError, match="FlyToTheMoon"):
        dispatcher.dispatch(_call("FlyToTheMoon"))
    with pytest.raises(ActionNotImplementedError):
        dispatcher.dispatch(_call(""))


def test_action_of_the_other_direction_is_not_supported(core: Backend, version: str) -> None:
    """J201 4.3: NotSupported, "Requested Action is recognized but not supported": a station
    sending a CSMS-initiated action, or a CSMS sending a station-initiated one."""
    remote_start = "RemoteStartTransaction" if version == "ocpp1.6" else "RequestStartTransaction"
    csms = core.dispatcher.Dispatcher(version, "csms")
    with pytest.raises(ActionNotSupportedError, match="not sent by a Charging Station to a CSMS"):
        csms.dispatch(_call(remote_start))
    station = core.dispatcher.Dispatcher(version, "station")
    with pytest.raises(ActionNotSupportedError, match="not sent by a CSMS to a Charging Station"):
        station.dispatch(_call("BootNotification"))


def test_known_action_without_handler_is_not_supported(core: Backend, version: str) -> None:
    dispatcher = core.dispatcher.Dispatcher(version, "csms")
    with pytest.raises(ActionNotSupportedError, match="BootNotification is not supported"):
        dispatcher.dispatch(_call("BootNotification"))


def test_handler_ocpp_error_passes_through(core: Backend, version: str) -> None:
    """A handler raising an OCPPError answers with exactly that error."""

    def authorize(request: Any) -> Any:
        raise SecurityError("not accepted yet", {"hint": "boot first"})

    dispatcher = core.dispatcher.Dispatcher(version, "csms", {"Authorize": authorize})
    with pytest.raises(SecurityError) as info:
        dispatcher.dispatch(_call("Authorize", msgspec.json.encode(example(version, "Authorize"))))
    assert info.value.details == {"hint": "boot first"}


def test_handler_crash_becomes_internal_error_without_internals(
    core: Backend, version: str
) -> None:
    """J201 4.3 InternalError; the description names the action only: no exception text, no
    traceback, no secrets reach the peer. The cause is chained for the log."""

    def boot(request: Any) -> Any:
        raise KeyError("database password=hunter2 at /srv/app/db.py:42")

    dispatcher = core.dispatcher.Dispatcher(version, "csms", {"BootNotification": boot})
    boot_request = msgspec.json.encode(example(version, "BootNotification"))
    with pytest.raises(InternalError) as info:
        dispatcher.dispatch(_call("BootNotification", boot_request))
    assert info.value.description == "an internal error occurred while processing BootNotification"
    assert "hunter2" not in repr(info.value) and "db.py" not in info.value.description
    assert isinstance(info.value.__cause__, KeyError)


def test_async_handler_result_is_returned_for_the_caller_to_await(
    core: Backend, version: str
) -> None:
    async def heartbeat(request: Any) -> dict[str, str]:
        return {"currentTime": "t"}

    dispatcher = core.dispatcher.Dispatcher(version, "csms", {"Heartbeat": heartbeat})
    awaitable = dispatcher.dispatch(_call("Heartbeat"))
    try:
        awaitable.send(None)
    except StopIteration as stop:
        assert stop.value == {"currentTime": "t"}
    else:  # pragma: no cover
        pytest.fail("coroutine did not finish")


def test_invalid_payload_is_refused_before_the_handler_runs(core: Backend, version: str) -> None:
    """A payload that breaks its schema never reaches the handler; the validator's error is the
    answer (codes per version in tests/test_validator.py)."""
    called: list[Any] = []
    dispatcher = core.dispatcher.Dispatcher(version, "csms", {"Heartbeat": called.append})
    with pytest.raises(OCPPError, match="Heartbeat request: x: not a field"):
        dispatcher.dispatch(_call("Heartbeat", b'{"x":1}'))
    # The scanner bounds number literals at 64 characters; one that still overflows a double
    # is a FormatViolation (1.6: FormationViolation).
    with pytest.raises(FormatViolationError, match="Heartbeat request: Number out of range"):
        dispatcher.dispatch(_call("Heartbeat", b'{"x":1e400}'))
    assert called == []


def test_register_rejects_unknown_and_wrong_direction(core: Backend, version: str) -> None:
    dispatcher = core.dispatcher.Dispatcher(version, "csms")
    with pytest.raises(ValueError, match="has no action"):
        dispatcher.register("Heartbeet", lambda r: {})
    with pytest.raises(ValueError, match="never sent to a CSMS"):
        dispatcher.register("Reset", lambda r: {})
    with pytest.raises(ValueError, match="role"):
        core.dispatcher.Dispatcher(version, "proxy")


def _answer(action: str) -> Any:
    return lambda request: action


def test_every_action_routes_in_its_direction(core: Backend, version: str) -> None:
    """Every action of every version can be handled by the role that receives it."""
    for role, incoming in (("csms", STATION_INITIATED), ("station", CSMS_INITIATED)):
        actions = incoming[version]
        dispatcher = core.dispatcher.Dispatcher(version, role, {a: _answer(a) for a in actions})
        for action in actions:
            payload = msgspec.json.encode(example(version, action))
            assert dispatcher.dispatch(_call(action, payload)) == action


def test_send_messages_route_only_in_21(core: Backend) -> None:
    """J21 4.2.4: NotifyPeriodicEventStream is a SEND from the station."""
    got: list[Any] = []
    dispatcher = core.dispatcher.Dispatcher(
        "ocpp2.1", "csms", {"NotifyPeriodicEventStream": got.append}
    )
    payload = b'{"id":1,"pending":0,"basetime":"2026-11-21T12:00:00Z","data":[{"t":0,"v":"1"}]}'
    dispatcher.dispatch(Send("s1", "NotifyPeriodicEventStream", payload))
    assert [msgspec.to_builtins(r) for r in got] == [msgspec.json.decode(payload)]
    station = core.dispatcher.Dispatcher("ocpp2.1", "station")
    with pytest.raises(ActionNotSupportedError):
        station.dispatch(Send("s2", "NotifyPeriodicEventStream", b"{}"))


STREAM = b'{"id":1,"pending":0,"basetime":"2026-11-21T12:00:00Z","data":[{"t":0,"v":"1"}]}'


def test_a_call_runs_only_call_handlers_and_a_send_only_send_handlers(core: Backend) -> None:
    """J21 4.2.4: SEND is its own message type. A SEND of a CALL action (Heartbeat) does not run
    the Heartbeat handler, and a CALL of the SEND message NotifyPeriodicEventStream does not run
    its SEND handler: both are NotSupported, and the CALL is answered so (it used to run the
    SEND handler and answer InternalError)."""
    ran: list[str] = []
    dispatcher = core.dispatcher.Dispatcher(
        "ocpp2.1",
        "csms",
        {
            "Heartbeat": lambda request: ran.append("Heartbeat") or HEARTBEAT_RESULT,
            "NotifyPeriodicEventStream": lambda request: ran.append("stream"),
        },
    )
    with pytest.raises(ActionNotSupportedError, match="Heartbeat is a CALL action, not a SEND"):
        dispatcher.dispatch(Send("s1", "Heartbeat", b"{}"))
    with pytest.raises(ActionNotSupportedError, match="is a SEND message, not a CALL"):
        dispatcher.dispatch(_call("NotifyPeriodicEventStream", STREAM))
    assert ran == []
    assert dispatcher.dispatch(_call("Heartbeat")) == HEARTBEAT_RESULT
    assert dispatcher.dispatch(Send("s2", "NotifyPeriodicEventStream", STREAM)) is None
    assert ran == ["Heartbeat", "stream"]
    assert dispatcher.actions == {"Heartbeat", "NotifyPeriodicEventStream"}

    # The same through register(), and on the wire: the CALL gets a NotSupported CALLERROR.
    session = core.session.Session("ocpp2.1")
    attached = core.dispatcher.Dispatcher("ocpp2.1", "csms", validator=session.validator)
    attached.register("NotifyPeriodicEventStream", lambda request: ran.append("registered"))
    session.attach(attached)
    [refused] = session.receive(b'[2,"c1","NotifyPeriodicEventStream",' + STREAM + b"]", 0.0)
    assert isinstance(refused, CallRefused)
    assert isinstance(refused.error, ActionNotSupportedError)
    assert [msgspec.json.decode(f)[:3] for f in session.data_to_send()] == [
        [4, "c1", "NotSupported"]
    ]
    assert attached.dispatch(Send("s3", "NotifyPeriodicEventStream", STREAM)) is None
    assert ran[2:] == ["registered"]


def test_session_and_dispatcher_answer_a_failed_call_per_version(
    core: Backend, version: str
) -> None:
    """End to end in the core: decode, dispatch, and the CALLERROR on the wire, with its
    description cut to 255 characters (J201 4.2.3 string[255])."""

    def heartbeat(request: Any) -> Any:
        raise FormatViolationError("é" * 300)

    session = core.session.Session(version)
    dispatcher = core.dispatcher.Dispatcher(version, "csms", {"Heartbeat": heartbeat})
    for message_id, action in (("a", "Heartbeat"), ("b", "Nope"), ("c", "Reset")):
        [event] = session.receive(msgspec.json.encode([2, message_id, action, {}]), now=0.0)
        assert isinstance(event, CallReceived)
        try:
            session.respond(message_id, dispatcher.dispatch(event.call))
        except OCPPError as error:
            session.respond_error(message_id, error)
    frames = [msgspec.json.decode(f) for f in session.data_to_send()]
    assert [f[:3] for f in frames] == [
        [4, "a", "FormationViolation" if version == "ocpp1.6" else "FormatViolation"],
        [4, "b", "NotImplemented"],
        [4, "c", "NotSupported"],
    ]
    assert frames[0][3] == "é" * 255


def test_attached_dispatcher_answers_inside_receive(core: Backend, version: str) -> None:
    """With the dispatcher attached, a synchronous handler's CALL is answered inside receive():
    no event, the CALLRESULT is queued; refusals come back as CallRefused, async handlers as
    CallDispatched for the caller to await and answer."""

    async def authorize_later(request: Any) -> Any:
        return {"idTagInfo": {"status": "Accepted"}}

    def boot(request: Any) -> Any:
        raise SecurityError("not on the allow list")

    session = core.session.Session(version)
    dispatcher = core.dispatcher.Dispatcher(
        version,
        "csms",
        {
            "Heartbeat": lambda request: HEARTBEAT_RESULT,
            "Authorize": authorize_later,
            "BootNotification": boot,
            "StatusNotification": lambda request: {"unexpected": True},
        },
        session.validator,
    )
    session.attach(dispatcher)

    assert session.receive('[2,"h","Heartbeat",{}]', now=0.0) == []
    assert [msgspec.json.decode(f) for f in session.data_to_send()] == [[3, "h", HEARTBEAT_RESULT]]

    [refused] = session.receive(
        msgspec.json.encode([2, "b", "BootNotification", example(version, "BootNotification")]), 0.0
    )
    assert isinstance(refused, CallRefused) and isinstance(refused.error, SecurityError)
    [error] = [msgspec.json.decode(f) for f in session.data_to_send()]
    assert error[:3] == [4, "b", "SecurityError"]

    [refused] = session.receive(
        msgspec.json.encode([2, "s", "StatusNotification", example(version, "StatusNotification")]),
        0.0,
    )
    assert isinstance(refused, CallRefused) and isinstance(refused.error, OutgoingMessageError)
    [error] = [msgspec.json.decode(f) for f in session.data_to_send()]
    assert error[:3] == [4, "s", "InternalError"]

    [pending] = session.receive(
        msgspec.json.encode([2, "a", "Authorize", example(version, "Authorize")]), 0.0
    )
    assert isinstance(pending, CallDispatched) and session.data_to_send() == []
    try:
        pending.pending.send(None)
    except StopIteration as stop:
        if version == "ocpp1.6":
            session.respond("a", stop.value)
        else:
            session.respond("a", {"idTokenInfo": {"status": "Accepted"}})
    assert [msgspec.json.decode(f)[:2] for f in session.data_to_send()] == [[3, "a"]]

    [refused] = session.receive('[2,"x","Nope",{}]', now=0.0)
    assert isinstance(refused, CallRefused) and isinstance(refused.error, ActionNotImplementedError)


def test_attach_needs_the_sessions_validator(core: Backend, version: str) -> None:
    session = core.session.Session(version)
    with pytest.raises(ValueError, match="session's validator"):
        session.attach(core.dispatcher.Dispatcher(version, "csms"))


def test_method_names_are_looked_up_on_the_owner_and_a_shared_mapping_never_changes(
    core: Backend, version: str
) -> None:
    """One mapping of method names serves many dispatchers (one per connection), each looking
    the method up on its own owner for each message; register() on one leaves the mapping as
    it was."""

    class Owner:
        def __init__(self, name: str) -> None:
            self.name = name

        def heartbeat(self, request: Any) -> Any:
            return (self.name, type(request).__name__)

    shared = {"Heartbeat": "heartbeat"}
    first = core.dispatcher.Dispatcher(version, "csms", shared, owner=Owner("first"))
    second = core.dispatcher.Dispatcher(version, "csms", shared, owner=Owner("second"))
    assert first.dispatch(_call("Heartbeat")) == ("first", "HeartbeatRequest")
    assert second.dispatch(_call("Heartbeat")) == ("second", "HeartbeatRequest")
    first.register("Authorize", lambda request: "a callable, called with the request")
    assert shared == {"Heartbeat": "heartbeat"}
    assert first.actions == {"Heartbeat", "Authorize"} and second.actions == {"Heartbeat"}
    with pytest.raises(ValueError):
        core.dispatcher.Dispatcher(version, "csms", {"Nope": "nope"}, owner=Owner("x"))
