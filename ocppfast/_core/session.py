"""Session: one OCPP-J RPC endpoint, sans I/O. One per connection, the same for both roles.

It takes frames in (`receive`) and hands frames out (`data_to_send`), and reports what happened
as events. It never reads a clock: every method that can make a deadline pass takes `now`, any
monotonic time in seconds the caller chooses.

Rules it keeps (J16 4.1, J201 4.1, J21 4.1):
- at most one outstanding CALL of ours; further CALLs queue in order and go out one at a time
  (J16 4.1.1, J201 4.1.1). CALLs from the peer may cross ours and are answered independently;
- a CALLRESULT or CALLERROR is matched by message id. One that matches nothing pending (unknown,
  or late: its CALL already timed out) is dropped and reported, and never taken as the answer to
  another CALL;
- a CALL from the peer that reuses the id of one still being handled is answered with a
  CALLERROR and not handed out again (J16 4.2.3, J201 4.2.3);
- message ids are unique per sender across connections (E201 4.2): a random prefix per session
  and a counter;
- OCPP 2.1: SEND goes out at once, outside the one-CALL rule, and is never answered; a CALLRESULT
  that cannot be decoded is answered with a CALLRESULTERROR (J21 4.2.3, 4.2.4).

Payloads go through the session's `Validator`: what we send is checked against its schema first
(`OutgoingMessageError` if it does not conform; nothing is sent), and a CALLRESULT arrives as its
typed response, or fails the CALL with the error its schema violation names.

Compiled by Cython as `_session_c` (see `_session_c.pxd`); this file is also the pure twin.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from typing import Any

import msgspec

try:
    import cython
except ModuleNotFoundError:  # Cython is a build dependency only
    from . import _cython_shim as cython

if cython.compiled:
    from ._frame_c import (
        DEFAULT_MAX_DEPTH,
        DEFAULT_MAX_FRAME_BYTES,
        decode_frame,
        encode_call,
        encode_call_error,
        encode_call_result,
        encode_send,
    )
    from ._validator_c import Validator
else:
    from .frame import (
        DEFAULT_MAX_DEPTH,
        DEFAULT_MAX_FRAME_BYTES,
        decode_frame,
        encode_call,
        encode_call_error,
        encode_call_result,
        encode_send,
    )
    from .validator import Validator

from ..exceptions import (
    CallTimeoutError,
    InternalError,
    OCPPError,
    OutgoingMessageError,
    RpcFrameworkError,
    SessionClosedError,
    error_from_code,
)
from .actions import CSMS_SENDS, STATION_SENDS
from .types import (
    CALL,
    CALLERROR,
    CALLRESULT,
    CALLRESULTERROR,
    MESSAGE_TYPES,
    OCPP21,
    OCPP201,
    Call,
    CallCompleted,
    CallDispatched,
    CallError,
    CallFailed,
    CallReceived,
    CallRefused,
    CallResult,
    CallResultError,
    DuplicateCallRejected,
    FrameError,
    FrameIgnored,
    FrameRejected,
    ResultDropped,
    ResultRejectedByPeer,
    Send,
    SendReceived,
    UnknownFrame,
    check_version,
)

DEFAULT_CALL_TIMEOUT = 30.0
# What a synchronous handler returns; anything else with `__await__` is an async handler's.
_SYNC_RESULTS = (msgspec.Struct, dict)
_Raw = msgspec.Raw  # checked outgoing payload JSON, embedded in the frame as is
# The SEND messages (J21 4.2.4), whoever sends them; only ocpp2.1 has any.
_SEND_ACTIONS: frozenset[str] = STATION_SENDS[OCPP21] | CSMS_SENDS[OCPP21]
# How many timed-out message ids are remembered, to tell a late answer from an unknown one.
_REMEMBERED_TIMEOUTS = 256


class PendingCall:
    """One of our CALLs: queued, or outstanding once `deadline` is set."""

    def __init__(self, message_id: str, action: str, frame: bytes, timeout: float) -> None:
        self.message_id = message_id
        self.action = action
        self.frame = frame
        self.timeout = timeout
        self.deadline = 0.0


def _decode_details(raw: bytes) -> dict[str, Any]:
    try:
        details = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {}
    return details if isinstance(details, dict) else {}


class Session:
    """One OCPP-J RPC endpoint for `version` ("ocpp1.6", "ocpp2.0.1" or "ocpp2.1").

    Drive it with `receive(data, now)` for every incoming text frame and `expire(now)` when
    `next_deadline()` passes; send what `data_to_send()` returns after each call. Start CALLs with
    `call()`, answer the peer's with `respond()` or `respond_error()`. `validator` checks the
    payloads both ways (default: a `Validator` for `version` with no quirks). With a
    dispatcher attached (see `attach()`), the peer's CALLs are handled inside `receive()`.
    """

    def __init__(
        self,
        version: str,
        *,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
        id_prefix: str | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_depth: int = DEFAULT_MAX_DEPTH,
        validator: Any = None,
    ) -> None:
        self.version: str = check_version(version)
        if validator is None:
            validator = Validator(self.version)
        elif validator.version != self.version:
            raise ValueError(f"the validator is for {validator.version}, not {self.version}")
        self.validator: Any = validator
        self.dispatcher: Any = None
        if call_timeout <= 0:
            raise ValueError("call_timeout must be positive")
        self.call_timeout: float = call_timeout
        self.max_frame_bytes: int = max_frame_bytes
        self.max_depth: int = max_depth
        self.closed: bool = False
        # Ids: a random prefix per session plus a counter; at most 8 + 1 + 20 characters.
        self._id_prefix: str = (secrets.token_hex(4) if id_prefix is None else id_prefix) + "-"
        if len(self._id_prefix) > 15:
            raise ValueError("id_prefix must be at most 14 characters")
        self._counter: int = 0
        self._outbox: list[bytes] = []
        self._outstanding: PendingCall | None = None
        # Created when first needed: most connections never queue a CALL or see one time out,
        # and an empty deque or OrderedDict costs more memory than the whole session.
        self._queue: deque[PendingCall] | None = None
        self._handling: dict[str, str] = {}
        self._timed_out: OrderedDict[str, None] | None = None

    def attach(self, dispatcher: Any) -> None:
        """Let `dispatcher` handle the peer's CALLs inside `receive()`: a synchronous handler's
        response is validated and queued for sending at once, with no event; an async handler's
        awaitable comes back as CallDispatched; a refusal as CallRefused. The dispatcher must
        use this session's validator."""
        if dispatcher.validator is not self.validator:
            raise ValueError("the dispatcher must use the session's validator")
        self.dispatcher = dispatcher

    # -- outgoing ------------------------------------------------------------------------

    def _new_id(self) -> str:
        self._counter += 1
        return self._id_prefix + str(self._counter)

    def call(self, action: str, payload: Any, now: float, timeout: float | None = None) -> str:
        """Queue a CALL and return its message id. It goes out at once if no other CALL of ours
        is outstanding, else when the ones before it are answered or time out. Its timeout runs
        from when it goes out. `action` must be a CALL action of the version, one that has a
        response (OutgoingMessageError otherwise, whether or not outgoing messages are
        checked): a 2.1 SEND message goes with `send()`."""
        if self.closed:
            raise SessionClosedError(action, "")
        if not self.validator.has_response(action):
            raise OutgoingMessageError(self._not_a(action, "CALL"))
        data = self.validator.encode_request(action, payload)
        message_id = self._new_id()
        pending = PendingCall(
            message_id,
            action,
            encode_call(message_id, action, _Raw(data)),
            self.call_timeout if timeout is None else timeout,
        )
        if self._outstanding is None:
            self._start(pending, now)
        else:
            if self._queue is None:
                self._queue = deque()
            self._queue.append(pending)
        return message_id

    def send(self, action: str, payload: Any) -> str:
        """Send a SEND (OCPP 2.1): goes out at once, is never answered (J21 4.2.4). `action`
        must be a SEND message (OutgoingMessageError otherwise): a CALL action goes with
        `call()`."""
        if self.version != OCPP21:
            raise ValueError(f"SEND messages exist in ocpp2.1 only, not in {self.version}")
        if self.closed:
            raise SessionClosedError(action, "")
        if action not in _SEND_ACTIONS:
            raise OutgoingMessageError(self._not_a(action, "SEND"))
        data = self.validator.encode_request(action, payload)
        message_id = self._new_id()
        self._outbox.append(encode_send(message_id, action, _Raw(data)))
        return message_id

    def _not_a(self, action: str, kind: str) -> str:
        if action in _SEND_ACTIONS and self.version == OCPP21:
            return f"{action} is a SEND message, not a CALL: send() it (J21 4.2.4)"
        if self.validator.has_response(action):
            return f"{action} is a CALL action, not a SEND message: call() it (J21 4.2.4)"
        return f"{self.version} has no {kind} action {action[:64]!r}"

    def respond(self, message_id: str, payload: Any) -> None:
        """Answer the peer's CALL `message_id` with a CALLRESULT. If `payload` does not conform
        to the response schema, the CALL is answered with an InternalError CALLERROR instead and
        OutgoingMessageError is raised, for the caller to log its fault."""
        action = self._done_handling(message_id)
        try:
            data = self.validator.encode_response(action, payload)
        except OutgoingMessageError:
            self._outbox.append(
                encode_call_error(
                    message_id,
                    InternalError.code_for(self.version),
                    f"the response to {action} could not be built",
                )
            )
            raise
        self._outbox.append(encode_call_result(message_id, _Raw(data)))

    def respond_error(self, message_id: str, error: OCPPError) -> None:
        """Answer the peer's CALL `message_id` with a CALLERROR for `error`."""
        self._done_handling(message_id)
        self._outbox.append(
            encode_call_error(
                message_id, error.code_for(self.version), error.description, error.details
            )
        )

    def reject_result(self, message_id: str, error: OCPPError) -> None:
        """Report that a CALLRESULT we received cannot be processed. The session does this itself
        for one that breaks its schema; the application calls it for one it cannot accept
        otherwise. On 2.1 this answers it with a CALLRESULTERROR (J21 4.2.3); earlier versions
        have no way to say so on the wire."""
        if self.version == OCPP21 and not self.closed:
            self._outbox.append(
                encode_call_error(
                    message_id,
                    error.code_for(self.version),
                    error.description,
                    error.details,
                    CALLRESULTERROR,
                )
            )

    def data_to_send(self) -> list[bytes]:
        """The frames to put on the wire, in order; each is UTF-8 JSON for one text message."""
        out = self._outbox
        self._outbox = []
        return out

    # -- state ----------------------------------------------------------------------------

    @property
    def outstanding_call(self) -> str | None:
        """The message id of our CALL awaiting its answer, if any."""
        return None if self._outstanding is None else self._outstanding.message_id

    @property
    def queued_calls(self) -> int:
        """How many of our CALLs wait for the outstanding one to be answered."""
        return 0 if self._queue is None else len(self._queue)

    @property
    def handling(self) -> frozenset[str]:
        """Message ids of the peer's CALLs handed out and not yet answered."""
        return frozenset(self._handling)

    def next_deadline(self) -> float | None:
        """When the outstanding CALL times out, if one is outstanding."""
        return None if self._outstanding is None else self._outstanding.deadline

    # -- incoming -------------------------------------------------------------------------

    def receive(self, data: bytes | str, now: float) -> list[Any]:
        """Take one incoming text frame; return the events it caused, in order."""
        events: list[Any] = []
        outstanding = self._outstanding
        if outstanding is not None and now >= outstanding.deadline:
            self._expire(now, events)
        if self.closed:
            return events
        try:
            frame = decode_frame(data, self.version, self.max_frame_bytes, self.max_depth)
        except FrameError as error:
            self._rejected(error, events, now)
            return events
        # Most frequent first; `type(x) is` is the cheapest test, and mypy narrows on it.
        if type(frame) is Call:
            if frame.message_id in self._handling:
                # J201 4.2.3: "an existing call with the same unique identifier is being handled
                # already" is answered with a CALLERROR; the first one is still handled once.
                self._outbox.append(
                    encode_call_error(
                        frame.message_id,
                        RpcFrameworkError.code_for(self.version),
                        f"a CALL with message id {frame.message_id} is already being handled",
                    )
                )
                events.append(DuplicateCallRejected(frame.message_id, frame.action))
            else:
                self._handling[frame.message_id] = frame.action
                if self.dispatcher is None:
                    events.append(CallReceived(frame))
                else:
                    self._dispatch(frame, events)
        elif type(frame) is CallResult:
            pending = self._match(frame.message_id)
            if pending is None:
                events.append(self._dropped(frame.message_id, CALLRESULT))
            else:
                self._finish(now)
                self._completed(pending, frame.payload, events)
        elif type(frame) is CallError:
            pending = self._match(frame.message_id)
            if pending is None:
                events.append(self._dropped(frame.message_id, CALLERROR))
            else:
                self._finish(now)
                peer_error = error_from_code(
                    frame.error_code,
                    frame.error_description,
                    _decode_details(frame.error_details),
                )
                events.append(CallFailed(frame.message_id, pending.action, peer_error))
        elif type(frame) is Send:
            events.append(SendReceived(frame))
        elif type(frame) is CallResultError:
            events.append(
                ResultRejectedByPeer(frame.message_id, frame.error_code, frame.error_description)
            )
        elif type(frame) is UnknownFrame:  # ignored (J16 4.1.3, J21 4.4)
            events.append(FrameIgnored(frame.message_type, frame.message_id))
        return events

    def expire(self, now: float) -> list[Any]:
        """Time out the outstanding CALL if its deadline has passed; return the events."""
        events: list[Any] = []
        outstanding = self._outstanding
        if outstanding is not None and now >= outstanding.deadline:
            self._expire(now, events)
        return events

    def close(self, reason: str = "") -> list[Any]:
        """Close the session: every outstanding and queued CALL fails with SessionClosedError,
        and the peer's CALLs still being handled can no longer be answered."""
        events: list[Any] = []
        if self.closed:
            return events
        self.closed = True
        pending = [] if self._outstanding is None else [self._outstanding]
        if self._queue is not None:
            pending.extend(self._queue)
            self._queue.clear()
        self._outstanding = None
        for call in pending:
            events.append(
                CallFailed(
                    call.message_id,
                    call.action,
                    SessionClosedError(call.action, call.message_id, reason),
                )
            )
        return events

    # -- internals ------------------------------------------------------------------------

    def _start(self, pending: PendingCall, now: float) -> None:
        pending.deadline = now + pending.timeout
        self._outstanding = pending
        self._outbox.append(pending.frame)

    def _finish(self, now: float) -> None:
        """The outstanding CALL is answered (or gave up): send the next queued one."""
        self._outstanding = None
        if self._queue:
            self._start(self._queue.popleft(), now)

    def _match(self, message_id: str) -> PendingCall | None:
        outstanding = self._outstanding
        if outstanding is not None and outstanding.message_id == message_id:
            return outstanding
        return None

    def _expire(self, now: float, events: list[Any]) -> None:
        expired = self._outstanding
        assert expired is not None
        if self._timed_out is None:
            self._timed_out = OrderedDict()
        self._timed_out[expired.message_id] = None
        if len(self._timed_out) > _REMEMBERED_TIMEOUTS:
            self._timed_out.popitem(last=False)
        events.append(
            CallFailed(
                expired.message_id,
                expired.action,
                CallTimeoutError(expired.action, expired.message_id, expired.timeout),
            )
        )
        self._finish(now)

    def _dispatch(self, call: Call, events: list[Any]) -> None:
        """Hand a CALL to the dispatcher and answer it, all inside the core when the handler is
        synchronous: such a CALL leaves no event unless it was refused."""
        try:
            result = self.dispatcher.dispatch(call)
        except OCPPError as error:
            self.respond_error(call.message_id, error)
            events.append(CallRefused(call, error))
            return
        if not isinstance(result, _SYNC_RESULTS) and hasattr(result, "__await__"):
            events.append(CallDispatched(call, result))
            return
        try:
            self.respond(call.message_id, result)
        except OutgoingMessageError as error:
            events.append(CallRefused(call, error))

    def _completed(self, pending: PendingCall, payload: bytes, events: list[Any]) -> None:
        try:
            response = self.validator.decode_response(pending.action, payload)
        except OCPPError as error:
            # The CALL fails with what is wrong with its answer; 2.1 tells the peer (J21 4.2.3).
            self.reject_result(pending.message_id, error)
            events.append(CallFailed(pending.message_id, pending.action, error))
        else:
            events.append(CallCompleted(pending.message_id, pending.action, response))

    def _dropped(self, message_id: str, message_type: int) -> ResultDropped:
        late = self._timed_out is not None and message_id in self._timed_out
        return ResultDropped(message_id, message_type, late)

    def _done_handling(self, message_id: str) -> str:
        """Forget the peer's CALL `message_id` as it is answered; return its action."""
        action: str | None = self._handling.pop(message_id, None)
        if action is None:
            raise ValueError(f"no CALL with message id {message_id!r} is awaiting an answer")
        if self.closed:
            raise SessionClosedError(f"the answer to {action}", "")
        return action

    def _rejected(self, error: FrameError, events: list[Any], now: float) -> None:
        """Answer (or not) an incoming frame that could not be decoded, by what it was."""
        message_type = error.message_type
        answered = False
        if (
            message_type is None
            or message_type == CALL
            or (self.version == OCPP201 and message_type not in MESSAGE_TYPES[OCPP201])
        ):
            # J201 4.2.3: a CALLERROR, with "-1" as the id when it could not be read.
            self._outbox.append(encode_call_error(error.message_id, error.code, error.description))
            answered = True
        elif message_type == CALLRESULT or message_type == CALLERROR:
            # The answer to our CALL arrived broken: fail that CALL now rather than at its
            # timeout; on 2.1 tell the peer its CALLRESULT was rejected (J21 4.2.3).
            if message_type == CALLRESULT and self.version == OCPP21 and error.message_id != "-1":
                self._outbox.append(
                    encode_call_error(
                        error.message_id, error.code, error.description, None, CALLRESULTERROR
                    )
                )
                answered = True
            pending = self._match(error.message_id)
            if pending is not None:
                self._finish(now)
                events.append(
                    CallFailed(
                        pending.message_id,
                        pending.action,
                        error_from_code(error.code, "malformed answer: " + error.description),
                    )
                )
        # A broken SEND, CALLRESULTERROR, or a frame of a type this version ignores: dropped.
        events.append(FrameRejected(error, answered))
