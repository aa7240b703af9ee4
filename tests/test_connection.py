"""The asyncio Connection and the @on / @after handler API (issue 4 items 1-2), over a loopback
transport whose far end the test drives frame by frame, on both core backends."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

import msgspec
import pytest

from ocppfast import v16, v21, v201
from ocppfast._core import Backend
from ocppfast._core.quirks import profile
from ocppfast.asyncio import Connection, Handlers, after, on
from ocppfast.exceptions import (
    CallTimeoutError,
    InternalError,
    OutgoingMessageError,
    SecurityError,
    SessionClosedError,
)
from ocppfast.transport import TransportClosed
from ocppfast.transport.loopback import LoopbackTransport, loopback_pair
from tests.aio import run

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)


async def frame(peer: LoopbackTransport) -> list[Any]:
    """The next frame the connection sent, decoded."""
    data = await asyncio.wait_for(peer.recv(), 5)
    return msgspec.json.decode(data)  # type: ignore[no-any-return]


class Csms16(Handlers):
    def __init__(self) -> None:
        self.events: list[str] = []

    @on("BootNotification")
    def boot(self, request: v16.BootNotificationRequest) -> v16.BootNotificationResponse:
        self.events.append(f"boot {request.charge_point_model}")
        return v16.BootNotificationResponse(
            status=v16.RegistrationStatus.Accepted, current_time=NOW, interval=300
        )

    @after("BootNotification")
    async def booted(
        self, request: v16.BootNotificationRequest, response: v16.BootNotificationResponse
    ) -> None:
        self.events.append("after boot")
        await self.connection.call(v16.GetConfigurationRequest(key=["HeartbeatInterval"]))

    @on("Heartbeat")
    async def heartbeat(self, request: v16.HeartbeatRequest) -> v16.HeartbeatResponse:
        await asyncio.sleep(0)
        return v16.HeartbeatResponse(current_time=NOW)

    @after("Heartbeat")
    def beat(self, request: v16.HeartbeatRequest, response: v16.HeartbeatResponse) -> None:
        self.events.append("after heartbeat")

    @on("Authorize")
    def authorize(self, request: v16.AuthorizeRequest) -> v16.AuthorizeResponse:
        if request.id_tag == "crash":
            raise RuntimeError("database down")
        if request.id_tag == "secret":
            raise SecurityError("not on this connection")
        return v16.AuthorizeResponse(
            id_tag_info=v16.IdTagInfo(status=v16.AuthorizationStatus.Blocked)
        )

    @on("DataTransfer")
    def data_transfer(self, request: v16.DataTransferRequest) -> Any:
        return v16.DataTransferResponse(status="NoSuchStatus")  # type: ignore[arg-type]

    def connected(self) -> None:
        self.events.append("connected")

    def disconnected(self) -> None:
        self.events.append(f"disconnected {self.connection.close_code}")


async def start(
    core: Backend, handlers: Handlers, version: str = "ocpp1.6", **options: Any
) -> tuple[Connection, LoopbackTransport, asyncio.Task[None]]:
    """A CSMS Connection on one end of a loopback pair; the test drives the other end."""
    ours, peer = loopback_pair(version)
    connection = Connection(ours, role="csms", handlers=handlers, core=core, **options)
    task = asyncio.create_task(connection.run())
    await asyncio.sleep(0)
    return connection, peer, task


BOOT = b'[2,"b1","BootNotification",{"chargePointVendor":"V","chargePointModel":"M"}]'


def test_sync_handler_answers_and_after_hook_runs_after_the_answer_is_sent(core: Backend) -> None:
    async def main() -> None:
        handlers = Csms16()
        _, peer, task = await start(core, handlers, identity="CP1")
        await peer.send(BOOT)
        answer = await frame(peer)
        assert answer[:2] == [3, "b1"] and answer[2]["status"] == "Accepted"
        # The follow-up CALL of the after-hook comes only after the answer (B01: nothing may
        # overtake the BootNotification response).
        follow_up = await frame(peer)
        assert follow_up[0] == 2 and follow_up[2:] == [
            "GetConfiguration",
            {"key": ["HeartbeatInterval"]},
        ]
        await peer.send(msgspec.json.encode([3, follow_up[1], {}]))
        await asyncio.sleep(0.01)
        assert handlers.events == ["connected", "boot M", "after boot"]
        await peer.close()
        await task
        assert handlers.events[-1] == "disconnected 1000"

    run(main())


def test_async_handler_and_its_after_hook(core: Backend) -> None:
    async def main() -> None:
        handlers = Csms16()
        _, peer, _ = await start(core, handlers)
        await peer.send(b'[2,"h1","Heartbeat",{}]')
        assert await frame(peer) == [3, "h1", {"currentTime": "2026-11-21T09:30:00Z"}]
        await asyncio.sleep(0.01)
        assert handlers.events[-1] == "after heartbeat"

    run(main())


class Committing(Handlers):
    """Handlers whose answers wait for a commit the test completes (`write_barrier`), and whose
    after-hooks close the connection (as a station reconnecting with a new password does)."""

    def __init__(self) -> None:
        self.commit: asyncio.Future[None] | None = None

    def write_barrier(self) -> asyncio.Future[None] | None:
        return self.commit if self.commit is not None and not self.commit.done() else None

    @on("Heartbeat")
    async def heartbeat(self, request: v16.HeartbeatRequest) -> v16.HeartbeatResponse:
        self.commit = asyncio.get_running_loop().create_future()
        return v16.HeartbeatResponse(current_time=NOW)

    @after("Heartbeat")
    async def close(self, request: v16.HeartbeatRequest, response: Any) -> None:
        await self.connection.close(1000, "after the answer")

    @on("Authorize")
    def authorize(self, request: v16.AuthorizeRequest) -> v16.AuthorizeResponse:
        self.commit = asyncio.get_running_loop().create_future()
        return v16.AuthorizeResponse(
            id_tag_info=v16.IdTagInfo(status=v16.AuthorizationStatus.Accepted)
        )

    @after("Authorize")
    async def close_too(self, request: v16.AuthorizeRequest, response: Any) -> None:
        await self.connection.close(1000, "after the answer")


@pytest.mark.parametrize(
    "call", [b'[2,"h1","Heartbeat",{}]', b'[2,"a1","Authorize",{"idTag":"T"}]']
)
def test_after_hook_waits_for_an_answer_held_for_its_commit(core: Backend, call: bytes) -> None:
    """An answer held until its commit is written first; the after-hook (here closing the
    connection) comes after it, for an async handler and a sync one."""

    async def main() -> None:
        handlers = Committing()
        _, peer, task = await start(core, handlers)
        await peer.send(call)
        await asyncio.sleep(0.05)  # the hook is waiting; nothing may have been sent
        assert handlers.commit is not None
        handlers.commit.set_result(None)
        answer = await frame(peer)
        assert answer[:2] == [3, call.split(b'"')[1].decode()]
        await task
        assert peer.close_code == 1000

    run(main())


def test_handler_crash_is_internal_error_logged_with_traceback(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        _, peer, _ = await start(core, Csms16(), identity="CP9")
        await peer.send(b'[2,"a1","Authorize",{"idTag":"crash"}]')
        code, description = (await frame(peer))[2:4]
        assert code == "InternalError" and "database" not in description  # never sent
        await peer.send(b'[2,"a2","Authorize",{"idTag":"secret"}]')
        assert (await frame(peer))[2] == "SecurityError"
        # An answer that breaks its schema is not sent: InternalError instead.
        await peer.send(b'[2,"d1","DataTransfer",{"vendorId":"x"}]')
        assert (await frame(peer))[2] == "InternalError"
        # The connection carries on.
        await peer.send(b'[2,"a3","Authorize",{"idTag":"ok"}]')
        assert (await frame(peer))[2] == {"idTagInfo": {"status": "Blocked"}}

    with caplog.at_level(logging.INFO, "ocppfast.connection"):
        run(main())
    crash = next(r for r in caplog.records if "handler of Authorize" in r.getMessage())
    assert crash.exc_info is not None and "database down" in str(crash.exc_info[1])
    assert any("broke its schema" in r.getMessage() for r in caplog.records)


def test_call_returns_the_typed_response(core: Backend) -> None:
    async def main() -> None:
        connection, peer, _ = await start(core, Csms16())
        call = asyncio.create_task(connection.call(v16.ClearCacheRequest()))
        sent = await frame(peer)
        assert sent[0] == 2 and sent[2:] == ["ClearCache", {}]
        await peer.send(msgspec.json.encode([3, sent[1], {"status": "Accepted"}]))
        assert await call == v16.ClearCacheResponse(status=v16.ClearCacheStatus.Accepted)

    run(main())


def test_call_raises_the_peers_callerror_as_its_exception(core: Backend) -> None:
    async def main() -> None:
        connection, peer, _ = await start(core, Csms16())
        call = asyncio.create_task(connection.call(v16.ClearCacheRequest()))
        sent = await frame(peer)
        await peer.send(msgspec.json.encode([4, sent[1], "InternalError", "boom", {"a": 1}]))
        with pytest.raises(InternalError) as raised:
            await call
        assert raised.value.description == "boom" and raised.value.details == {"a": 1}

    run(main())


def test_call_answer_that_breaks_its_schema_fails_the_call(core: Backend) -> None:
    """J16 4.2.3: a CALLRESULT that does not conform fails the CALL with the violation."""

    async def main() -> None:
        connection, peer, _ = await start(core, Csms16())
        call = asyncio.create_task(connection.call(v16.ClearCacheRequest()))
        sent = await frame(peer)
        await peer.send(msgspec.json.encode([3, sent[1], {"status": "Maybe"}]))
        with pytest.raises(Exception) as raised:
            await call
        assert type(raised.value).__name__ == "PropertyConstraintViolationError"

    run(main())


def test_call_timeout_and_late_answer_dropped(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """J16 4.1.1: a CALL without an answer times out; the late answer is dropped, and the next
    queued CALL goes out."""

    async def main() -> None:
        connection, peer, _ = await start(core, Csms16())
        first = asyncio.create_task(connection.call(v16.ClearCacheRequest(), timeout=0.05))
        second = asyncio.create_task(connection.call(v16.GetLocalListVersionRequest()))
        sent = await frame(peer)
        with pytest.raises(CallTimeoutError):
            await first
        queued = await frame(peer)  # only now: one outstanding CALL at a time
        assert queued[2] == "GetLocalListVersion"
        await peer.send(msgspec.json.encode([3, sent[1], {"status": "Accepted"}]))  # late
        await peer.send(msgspec.json.encode([3, queued[1], {"listVersion": 3}]))
        assert (await second).list_version == 3

    with caplog.at_level(logging.INFO, "ocppfast.connection"):
        run(main())
    assert any("a late answer" in r.getMessage() for r in caplog.records)


def test_calls_go_out_one_at_a_time(core: Backend) -> None:
    """J16 4.1.1, J201 4.1.1: at most one outstanding CALL."""

    async def main() -> None:
        connection, peer, _ = await start(core, Csms16())
        calls = [
            asyncio.create_task(connection.call(v16.GetLocalListVersionRequest())) for _ in range(3)
        ]
        for version in range(3):
            sent = await frame(peer)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(peer.recv()), 0.02)
            await peer.send(msgspec.json.encode([3, sent[1], {"listVersion": version}]))
        assert [(await c).list_version for c in calls] == [0, 1, 2]

    run(main())


def test_peer_vanishing_mid_call_fails_pending_calls(core: Backend) -> None:
    async def main() -> None:
        handlers = Csms16()
        connection, peer, task = await start(core, handlers)
        call = asyncio.create_task(connection.call(v16.ClearCacheRequest()))
        await frame(peer)
        await peer.close(1006, "")
        with pytest.raises(SessionClosedError):
            await call
        await task
        assert connection.closed and connection.close_code == 1006
        with pytest.raises(SessionClosedError):
            await connection.call(v16.ClearCacheRequest())

    run(main())


def test_malformed_frames_answered_and_connection_kept(core: Backend) -> None:
    """J16 4.2.3, J201 4.2.3: a frame that is not valid JSON gets a CALLERROR with id "-1"."""

    async def main() -> None:
        _, peer, _ = await start(core, Csms16())
        await peer.send(b"[2, not json")
        assert (await frame(peer))[:3] == [4, "-1", "FormationViolation"]
        await peer.send(b'[2,"u1","NoSuchAction",{}]')
        assert (await frame(peer))[2] == "NotImplemented"
        await peer.send(b'[2,"s1","Authorize",{}]')
        assert (await frame(peer))[2] == "OccurenceConstraintViolation"
        await peer.send(b'[2,"h1","Heartbeat",{}]')
        assert (await frame(peer))[:2] == [3, "h1"]

    run(main())


def test_unhandled_action_is_not_supported(core: Backend) -> None:
    async def main() -> None:
        _, peer, _ = await start(core, Handlers(), "ocpp2.0.1")
        await peer.send(b'[2,"h1","Heartbeat",{}]')
        assert (await frame(peer))[2] == "NotSupported"

    run(main())


def test_request_of_another_version_is_refused(core: Backend) -> None:
    async def main() -> None:
        connection, _, _ = await start(core, Handlers(), "ocpp2.0.1")
        with pytest.raises(TypeError, match=r"ocpp2\.0\.1 request type"):
            await connection.call(v16.ClearCacheRequest())
        with pytest.raises(OutgoingMessageError):
            await connection.call(v201.ClearCacheRequest(custom_data=42))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"ocpp2\.1 only"):
            await connection.send(v201.HeartbeatRequest())

    run(main())


class Csms21(Handlers):
    def __init__(self) -> None:
        self.streams: list[int] = []

    @on(v21.NotifyPeriodicEventStream)
    def stream(self, request: v21.NotifyPeriodicEventStream) -> None:
        self.streams.append(request.id)


def test_send_both_ways_in_21(core: Backend) -> None:
    """J21 4.2.4: a SEND is handled and never answered."""

    async def main() -> None:
        handlers = Csms21()
        connection, peer, _ = await start(core, handlers, "ocpp2.1")
        await peer.send(
            b'[6,"x1","NotifyPeriodicEventStream",{"id":7,"pending":0,"basetime":'
            b'"2026-11-21T09:30:00Z","data":[{"t":0,"v":"1"}]}]'
        )
        await peer.send(b'[2,"h1","Heartbeat",{}]')
        assert (await frame(peer))[2] == "NotSupported"  # nothing came back for the SEND
        assert handlers.streams == [7]
        request = v21.NotifyPeriodicEventStream(
            id=1, pending=0, basetime=NOW, data=[v21.StreamDataElement(t=0.0, v="2")]
        )
        await connection.send(request)
        assert (await frame(peer))[0] == 6

    run(main())


class Csms21Both(Csms21):
    def __init__(self) -> None:
        super().__init__()
        self.heartbeats = 0

    @on("Heartbeat")
    def heartbeat(self, request: v21.HeartbeatRequest) -> v21.HeartbeatResponse:
        self.heartbeats += 1
        return v21.HeartbeatResponse(current_time=NOW)


def test_call_and_send_reach_only_their_own_handlers(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """J21 4.2.4: a SEND of a CALL action does not run its CALL handler (ignored, logged, never
    answered); a CALL of the SEND message is answered NotSupported, its SEND handler not run.
    Our side refuses the same mix-ups before anything is sent."""

    async def main() -> None:
        handlers = Csms21Both()
        connection, peer, _ = await start(core, handlers, "ocpp2.1", identity="CP21")
        await peer.send(b'[6,"s1","Heartbeat",{}]')
        await peer.send(
            b'[2,"c1","NotifyPeriodicEventStream",{"id":7,"pending":0,"basetime":'
            b'"2026-11-21T09:30:00Z","data":[{"t":0,"v":"1"}]}]'
        )
        answer = await frame(peer)
        assert answer[:3] == [4, "c1", "NotSupported"]  # and nothing for the SEND before it
        assert handlers.streams == [] and handlers.heartbeats == 0
        await peer.send(b'[2,"h1","Heartbeat",{}]')
        assert (await frame(peer))[:2] == [3, "h1"] and handlers.heartbeats == 1
        with pytest.raises(OutgoingMessageError, match="SEND message, not a CALL"):
            await connection.call(
                v21.NotifyPeriodicEventStream(
                    id=1, pending=0, basetime=NOW, data=[v21.StreamDataElement(t=0.0, v="2")]
                )
            )
        with pytest.raises(OutgoingMessageError, match="CALL action, not a SEND message"):
            await connection.send(v21.HeartbeatRequest())

    with caplog.at_level(logging.WARNING):
        run(main())
    assert any("ignored SEND Heartbeat" in r.getMessage() for r in caplog.records)


def test_handler_routes() -> None:
    """@on by name covers every version that has the action; by type only its version."""

    class Both(Handlers):
        @on("Heartbeat")
        def any_heartbeat(self, request: Any) -> Any: ...

        @on(v16.StartTransactionRequest)
        def start16(self, request: Any) -> Any: ...

        @on("TransactionEvent", versions=["ocpp2.1"])
        def tx21(self, request: Any) -> Any: ...

    both = Both()
    assert both.handled_actions("ocpp1.6") == {"Heartbeat", "StartTransaction"}
    assert both.handled_actions("ocpp2.0.1") == {"Heartbeat"}
    assert both.handled_actions("ocpp2.1") == {"Heartbeat", "TransactionEvent"}

    class Sub(Both):
        @on("Heartbeat", versions=["ocpp1.6"])
        def heartbeat16(self, request: Any) -> Any: ...

    assert Sub().handlers_for("ocpp1.6")["Heartbeat"].__name__ == "heartbeat16"
    assert Sub().handlers_for("ocpp2.0.1")["Heartbeat"].__name__ == "any_heartbeat"

    with pytest.raises(ValueError, match="no OCPP action 'Heartbeet'"):
        on("Heartbeet")
    with pytest.raises(ValueError, match="no OCPP action 'StartTransaction'"):
        on("StartTransaction", versions=["ocpp2.0.1"])
    with pytest.raises(TypeError, match="request type"):
        on(v16.HeartbeatResponse)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="both one and two"):

        class Twice(Handlers):
            @on("Heartbeat")
            def one(self, request: Any) -> Any: ...

            @on("Heartbeat", versions=["ocpp1.6"])
            def two(self, request: Any) -> Any: ...


def test_debug_log_shows_frames_but_never_credentials(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        connection, peer, _ = await start(core, Csms16(), identity="CP1")
        change = v16.ChangeConfigurationRequest(
            key="AuthorizationKey", value="0123456789abcdef0123"
        )
        call = asyncio.create_task(connection.call(change))
        sent = await frame(peer)
        await peer.send(msgspec.json.encode([3, sent[1], {"status": "Accepted"}]))
        await call
        await peer.send(b'[2,"h1","Heartbeat",{}]')
        await frame(peer)

    with caplog.at_level(logging.DEBUG, "ocppfast.connection"):
        run(main())
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert '"Heartbeat"' in text and "CP1 <" in text
    assert "0123456789abcdef0123" not in text and "may carry a credential" in text


def test_quirk_tolerated_is_logged_once_per_connection(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    long_serial = b'"chargePointSerialNumber":"' + b"S" * 30 + b'"'
    boot = (
        b'[2,"ID","BootNotification",{"chargePointVendor":"V","chargePointModel":"M",'
        + long_serial
        + b"}]"
    )

    async def main() -> None:
        _, peer, _ = await start(
            core, Csms16(), identity="CP7", quirks=profile("long-serial-numbers")
        )
        for message_id in (b"b1", b"b2"):
            await peer.send(boot.replace(b"ID", message_id))
            answer = await frame(peer)
            if answer[0] == 2:  # the after-hook's GetConfiguration, left unanswered
                answer = await frame(peer)
            assert answer[:2] == [3, message_id.decode()]

    with caplog.at_level(logging.WARNING, "ocppfast.connection"):
        run(main())
    tolerated = [r.getMessage() for r in caplog.records if "tolerated" in r.getMessage()]
    assert len(tolerated) == 1 and "CP7" in tolerated[0] and "long-serial-number" in tolerated[0]


def test_close_fails_pending_and_cancels_handlers(core: Backend) -> None:
    async def main() -> None:
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        class Slow(Handlers):
            @on("Heartbeat")
            async def heartbeat(self, request: Any) -> Any:
                await gate
                raise AssertionError("cancelled before")

        connection, peer, task = await start(core, Slow())
        await peer.send(b'[2,"h1","Heartbeat",{}]')
        await asyncio.sleep(0.01)
        await connection.close(1001, "going away")
        await task
        assert connection.close_code == 1001 and connection.close_reason == "going away"
        with pytest.raises(TransportClosed):
            await peer.recv()

    run(main())


def test_handler_names_are_one_table_per_class_looked_up_per_message(core: Backend) -> None:
    """Connections of one Handlers class share its table of method names (memory per
    connection); each message's handler is looked up on the instance when it comes, so a
    class patched after connections were made answers with the new method."""

    class Csms(Handlers):
        @on(v16.HeartbeatRequest)
        def heartbeat(self, request: Any) -> Any:
            return v16.HeartbeatResponse(current_time=datetime(2025, 1, 1, tzinfo=timezone.utc))

    assert Csms().handler_names("ocpp1.6") is Csms().handler_names("ocpp1.6")
    assert dict(Csms().handler_names("ocpp1.6")) == {"Heartbeat": "heartbeat"}

    async def main() -> None:
        csms_end, station_end = loopback_pair("ocpp1.6")
        csms = Connection(csms_end, role="csms", handlers=Csms(), core=core)
        station = Connection(station_end, role="station", core=core)
        tasks = [asyncio.create_task(c.run()) for c in (csms, station)]
        assert (await station.call(v16.HeartbeatRequest())).current_time.year == 2025

        def patched(self: Any, request: Any) -> Any:
            return v16.HeartbeatResponse(current_time=datetime(2027, 1, 1, tzinfo=timezone.utc))

        Csms.heartbeat = patched  # type: ignore[method-assign]
        assert (await station.call(v16.HeartbeatRequest())).current_time.year == 2027
        await station.close()
        await asyncio.gather(*tasks)

    run(main())


def test_instance_override_is_what_answers(core: Backend) -> None:
    """The instance's own handler answers, not the class's (per-instance binding)."""

    class Csms(Handlers):
        @on(v16.HeartbeatRequest)
        def heartbeat(self, request: Any) -> Any:
            raise AssertionError("the class's handler must not run")

    async def main() -> None:
        csms_end, station_end = loopback_pair("ocpp1.6")
        handlers = Csms()
        handlers.heartbeat = lambda request: v16.HeartbeatResponse(  # type: ignore[method-assign]
            current_time=datetime(2026, 1, 1, tzinfo=timezone.utc)
        )
        csms = Connection(csms_end, role="csms", handlers=handlers, core=core)
        station = Connection(station_end, role="station", core=core)
        tasks = [asyncio.create_task(c.run()) for c in (csms, station)]
        answer = await station.call(v16.HeartbeatRequest())
        assert answer.current_time.year == 2026
        await station.close()
        await asyncio.gather(*tasks)

    run(main())


def test_calls_answered_waits_for_the_answers_of_our_calls(core: Backend) -> None:
    """What a station closing on purpose (to reconnect) waits for: the answers to its CALLs in
    flight, at most the time given."""

    async def main() -> None:
        connection, peer, _ = await start(core, Csms16())
        assert await connection.calls_answered(0.01)  # none made
        pending = asyncio.create_task(
            connection.call(v16.GetConfigurationRequest(key=["HeartbeatInterval"]))
        )
        call = await frame(peer)
        assert not await connection.calls_answered(0.05)  # not answered yet
        waiting = asyncio.create_task(connection.calls_answered(5))
        await peer.send(msgspec.json.encode([3, call[1], {}]))
        assert await waiting
        await pending

    run(main())
