"""Security events raised by the simulated stations (issue 10 item 6), on both core backends.

1.6: the security whitepaper's list (SW 8) and A04: critical events pushed with
SecurityEventNotification.req (A04.FR.01), "queued with a guaranteed delivery" (A04.FR.02: kept
in the station's data until answered, across an outage and a restart), every event in the
security log (A04.FR.04, N01.FR.05). 2.0.1 / 2.1: appendix 1 of part 2, A04 (TC_A_*: the
critical events pushed, SettingSystemTime with ClockCtrlr.TimeAdjustmentReportingThreshold).
The TLS events come from the client's handshake (A00.FR.309/315/322 of SW, A00.FR.309 etc. of
2.0.1 part 2), over real sockets on 127.0.0.1 against a TLS server that sends its alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from ocppfast import v16
from ocppfast._core import Backend
from ocppfast.asyncio import Client, ConnectError
from ocppfast.exceptions import InternalError
from ocppfast.security.pki import CertificateRecord, CertificateStore
from ocppfast.security.tls import client_context, server_context
from ocppfast.station.store import StationStore
from tests import test_station_v2 as t2
from tests.aio import run, until
from tests.test_station_firmware import file_server, update16
from tests.test_station_v16 import NOW, Csms, Link, make_station


@pytest.fixture(params=["ocpp2.0.1", "ocpp2.1"])
def v2(request: pytest.FixtureRequest) -> str:
    """OCPP 2.0.1 and 2.1: one implementation serves both."""
    return str(request.param)


# -- a TLS server that fails the handshake as a real one does (with its alert) ----------------


class Pki:
    def __init__(self, base: Path) -> None:
        self.store = CertificateStore(base / "pki")
        self.store.create_ca("Example CPO")
        self.ecdsa = self.store.issue_server(["localhost", "127.0.0.1"])
        self.rsa = self.store.issue_server(
            ["localhost", "127.0.0.1"], algorithm="rsa", rsa_bits=2048, force=True
        )
        self.other = CertificateStore(base / "other")
        self.other.create_ca("Example CPO")  # same name, another key: not trusted
        self.other_server = self.other.issue_server(["localhost", "127.0.0.1"])

    def files(self, record: CertificateRecord, store: CertificateStore | None = None) -> Any:
        store = store or self.store
        assert record.key_file is not None
        return store.path(record.cert_file), store.path(record.key_file)

    def station_context(self) -> ssl.SSLContext:
        return client_context(self.store.ca_cert_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def old_tls_server(pki: Pki) -> ssl.SSLContext:
    """A CSMS that allows TLS 1.1 at most (A00.FR.315)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki.files(pki.ecdsa))
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


def cbc_only_server(pki: Pki) -> ssl.SSLContext:
    """A CSMS that allows only a suite outside A00.FR.317 (AES-CBC) (A00.FR.322)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki.files(pki.rsa))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("AES128-SHA256:@SECLEVEL=0")
    return context


def other_ca_server(pki: Pki) -> ssl.SSLContext:
    """A CSMS whose certificate the station's root does not verify (A00.FR.309)."""
    return server_context(*pki.files(pki.other_server, pki.other))


@contextlib.contextmanager
def tls_server(context: ssl.SSLContext) -> Any:
    """A blocking TLS server in a thread (OpenSSL writes its alert before it closes, as real
    servers do); yields its port. Serves handshakes until closed."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve_forever() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(5)
            with conn, contextlib.suppress(ssl.SSLError, OSError):
                context.wrap_socket(conn, server_side=True).recv(1)

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


async def attempt(station: Any, url: str, version: str, **options: Any) -> ConnectError:
    """One connection attempt of a Client serving `station`, its `security_event` wired to the
    station as `ocppfast station` wires it; the attempt fails."""
    client = Client(
        url,
        station.config.identity,
        station,
        versions=(version,),
        security_event=station.connect_security_event,
        open_timeout=5,
        **options,
    )
    with pytest.raises(ConnectError) as failed:
        await client.connect()
    return failed.value


def kinds(station: Any) -> list[str]:
    return [kind for _, kind, _ in station.security_log]


def events(csms: Any) -> list[str]:
    return [request.type for request in csms.of("SecurityEventNotification")]


# -- 1.6 --------------------------------------------------------------------------------------


def test_sw8_startup_of_the_device_once_per_start(core: Backend) -> None:
    """SW 8 StartupOfTheDevice (critical, A04.FR.01): pushed after the first accepted boot, in
    the security log (A04.FR.04); a reconnection without a reboot sends none (J16 5.4: no
    BootNotification either)."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        (event,) = await link.csms.wait_for("SecurityEventNotification")
        assert (event.type, event.timestamp, event.tech_info) == (
            "StartupOfTheDevice",
            NOW,
            "booted",
        )
        assert station.security_log[-1] == (NOW, "StartupOfTheDevice", "booted")
        await link.close()
        again = Link(core, station, Csms())
        await asyncio.wait_for(station.booted.wait(), 5)
        await asyncio.sleep(0.2)
        assert events(again.csms) == []
        await again.close()

    run(main())


def test_sw8_reset_or_reboot_after_a_reset(core: Backend) -> None:
    """SW 8 ResetOrReboot (critical): after a Reset.req (C16 5.14) the station boots again and
    pushes ResetOrReboot, not StartupOfTheDevice."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        await link.csms.wait_for("SecurityEventNotification")
        await link.call(v16.ResetRequest(type=v16.ResetType.Soft))
        await link.closed()
        again = Link(core, station, Csms())
        await again.booted()
        (event,) = await again.csms.wait_for("SecurityEventNotification")
        assert event.type == "ResetOrReboot"
        assert kinds(station) == ["StartupOfTheDevice", "ResetOrReboot"]
        await again.close()

    run(main())


def test_sw8_firmware_updated_after_the_firmware_reboot(core: Any) -> None:
    """SW 8 FirmwareUpdated (critical), C16 5.19: the reboot into the new firmware is a
    ResetOrReboot; FirmwareUpdated follows with Installed."""

    async def main() -> None:
        station = make_station()
        async with file_server() as server:
            link = Link(core, station, Csms())
            await link.booted()
            await link.call(update16(server.url("/fw/good.bin")))
            await link.closed()
            again = Link(core, station, Csms())
            await again.booted()
            await again.csms.wait_for("SecurityEventNotification", count=2)
            assert events(again.csms) == ["ResetOrReboot", "FirmwareUpdated"]
            await again.close()

    run(main())


def test_sw8_reconfiguration_of_security_parameters_is_logged_not_pushed(core: Backend) -> None:
    """SW 8 ReconfigurationOfSecurityParameters is not critical: the security log only
    (A04.FR.04), when the AuthorizationKey changes (SW A01)."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        await link.csms.wait_for("SecurityEventNotification")
        answer = await link.call(
            v16.ChangeConfigurationRequest(key="AuthorizationKey", value="ab" * 20)
        )
        assert answer.status == v16.ConfigurationStatus.Accepted
        assert kinds(station)[-1] == "ReconfigurationOfSecurityParameters"
        await asyncio.sleep(0.2)
        assert events(link.csms) == ["StartupOfTheDevice"]
        await link.close()

    run(main())


def test_sw_a04_fr_02_offline_event_delivered_at_reconnection(core: Backend, pki: Pki) -> None:
    """SW A04.FR.02, A00.FR.322 (and the note of A00.FR.318: "send to the Central System"):
    the CSMS allows only a suite outside A00.FR.317; the station's handshake fails
    (InvalidTLSCipherSuite, kept while offline, raised once however many attempts fail) and the
    event is delivered at the next connection. InvalidCentralSystemCertificate (A00.FR.309)
    and InvalidTLSVersion (A00.FR.315) are not critical in SW 8: the security log only."""

    async def main() -> None:
        station = make_station()
        link = Link(core, station, Csms())
        await link.booted()
        await link.csms.wait_for("SecurityEventNotification")
        await link.close()
        with tls_server(cbc_only_server(pki)) as port:
            for _ in range(2):
                await attempt(
                    station, f"wss://localhost:{port}/ocpp", "ocpp1.6", ssl=pki.station_context()
                )
        with tls_server(other_ca_server(pki)) as port:
            await attempt(
                station, f"wss://localhost:{port}/ocpp", "ocpp1.6", ssl=pki.station_context()
            )
        with tls_server(old_tls_server(pki)) as port:
            await attempt(
                station, f"wss://localhost:{port}/ocpp", "ocpp1.6", ssl=pki.station_context()
            )
        assert kinds(station) == [
            "StartupOfTheDevice",
            "InvalidTLSCipherSuite",
            "InvalidCentralSystemCertificate",
            "InvalidTLSVersion",
        ]
        again = Link(core, station, Csms())
        (event,) = await again.csms.wait_for("SecurityEventNotification")
        assert event.type == "InvalidTLSCipherSuite"
        assert event.tech_info == "SSLV3_ALERT_HANDSHAKE_FAILURE"
        await asyncio.sleep(0.2)
        assert events(again.csms) == ["InvalidTLSCipherSuite"]
        await again.close()

    run(main())


def test_sw_a04_fr_02_event_survives_a_restart(core: Backend, tmp_path: Path) -> None:
    """SW A04.FR.02: a critical event raised while offline is in the station's data: after a
    restart (a new process: the same `StationStore` file) it is delivered, then the new
    start's StartupOfTheDevice; once answered it is no longer kept."""

    async def main() -> None:
        path = tmp_path / "station.sqlite3"
        store = await StationStore.open(path)
        first = make_station(data=await store.load("CP1"))
        first.connect_security_event("InvalidTLSCipherSuite", "SSLV3_ALERT_HANDSHAKE_FAILURE")
        await first.shutdown()
        await store.close()

        store = await StationStore.open(path)
        second = make_station(data=await store.load("CP1"))
        link = Link(core, second, Csms())
        await link.booted()
        await link.csms.wait_for("SecurityEventNotification", count=2)
        assert events(link.csms) == ["InvalidTLSCipherSuite", "StartupOfTheDevice"]
        await until(lambda: "security_events" not in second.data.state)
        await link.close()
        await second.shutdown()
        await store.close()

        store = await StationStore.open(path)
        third = make_station(data=await store.load("CP1"))
        assert "security_events" not in third.data.state
        await store.close()

    run(main())


def test_sw_a04_event_failed_by_the_central_system_is_sent_again(core: Backend) -> None:
    """SW A04.FR.02 / A04.FR.03: a SecurityEventNotification.req answered with a CALLERROR is
    sent again (MessageTimeout seconds later), until confirmed."""

    class Failing(Csms):
        failures = 1

        def security_event(self, request: Any) -> v16.SecurityEventNotificationResponse:
            if self.failures:
                self.failures -= 1
                self._record(request)
                raise InternalError("busy")
            return super().security_event(request)

    async def main() -> None:
        station = make_station()
        station.change_configuration("MessageTimeout", "1")
        csms = Failing()
        link = Link(core, station, csms)
        await link.booted()
        await csms.wait_for("SecurityEventNotification", count=2)
        assert events(csms) == ["StartupOfTheDevice", "StartupOfTheDevice"]
        await until(lambda: not station._events_pending)
        await link.close()

    run(main())


# -- 2.0.1 / 2.1 ------------------------------------------------------------------------------


def test_A04_startup_and_reset_or_reboot(core: Backend, v2: str) -> None:
    """A201 appendix 1 StartupOfTheDevice, ResetOrReboot (critical: A04.FR.01), P6 reusable
    state Booted; TC_B_20_CS reset."""

    async def main() -> None:
        station = t2.make_station(v2)
        csms = t2.Csms()
        async with t2.connect(core, station, csms, v2) as connection:
            await t2.ready(station, csms)
            m = csms.m
            await connection.call(m.ResetRequest(type="Immediate"))
            await until(lambda: connection.closed)
        after = t2.Csms()
        async with t2.connect(core, station, after, v2):
            await t2.ready(station, after)
        assert events(csms) == ["StartupOfTheDevice"]
        assert events(after) == ["ResetOrReboot"]

    t2.run(main())


def test_A04_setting_system_time_beyond_the_threshold(core: Backend, v2: str) -> None:
    """A201 appendix 1 SettingSystemTime (critical): with ClockCtrlr.TimeSource Heartbeat the
    CSMS's time is adopted (A201 3.1.5); a change of more than
    ClockCtrlr.TimeAdjustmentReportingThreshold seconds is pushed, a smaller one is not."""

    async def main() -> None:
        station = t2.make_station(v2)
        clock = t2.clock_of(station)
        csms = t2.Csms()
        async with t2.connect(core, station, csms, v2) as connection:
            await t2.ready(station, csms)
            m = csms.m
            threshold = t2.get(m, "ClockCtrlr", "TimeAdjustmentReportingThreshold")
            answer = await connection.call(m.GetVariablesRequest(get_variable_data=[threshold]))
            (got,) = answer.get_variable_result
            assert got.attribute_value == "20"
            assert await t2.set_variables(
                connection, t2.put(m, "ClockCtrlr", "TimeSource", "Heartbeat")
            ) == ["Accepted"]
            for drift, beats in ((5, 1), (-100, 2)):  # the station's clock drifts
                clock.advance(drift)
                await connection.call(m.TriggerMessageRequest(requested_message="Heartbeat"))
                await csms.wait("Heartbeat", beats)
                await asyncio.sleep(0.1)
            await csms.wait("SecurityEventNotification", 2)
            assert events(csms) == ["StartupOfTheDevice", "SettingSystemTime"]
            assert csms.of("SecurityEventNotification")[1].tech_info == (
                "clock set +100 s to the CSMS's time"
            )
            assert station.now() == t2.NOW

    t2.run(main())


def test_A04_tls_failures_are_pushed_once_connected(core: Backend, v2: str, pki: Pki) -> None:
    """A00.FR.309 InvalidCsmsCertificate, A00.FR.315 InvalidTLSVersion, A00.FR.322
    InvalidTLSCipherSuite (2.0.1 part 2; TC_A_05_CS / TC_A_20_CS ...): critical in appendix 1,
    so pushed once the station is connected (A04.FR.02), each once per run of failures."""

    async def main() -> None:
        station = t2.make_station(v2)
        for server in (other_ca_server, other_ca_server, old_tls_server, cbc_only_server):
            with tls_server(server(pki)) as port:
                await attempt(
                    station, f"wss://localhost:{port}/ocpp", v2, ssl=pki.station_context()
                )
        assert kinds(station) == [
            "InvalidCsmsCertificate",
            "InvalidTLSVersion",
            "InvalidTLSCipherSuite",
        ]
        csms = t2.Csms()
        async with t2.connect(core, station, csms, v2):
            await t2.ready(station, csms)
            await csms.wait("SecurityEventNotification", 4)
        assert events(csms) == [
            "InvalidCsmsCertificate",
            "InvalidTLSVersion",
            "InvalidTLSCipherSuite",
            "StartupOfTheDevice",
        ]
        assert "unable to get local issuer certificate" in (
            csms.of("SecurityEventNotification")[0].tech_info
        )

    t2.run(main())


@contextlib.asynccontextmanager
async def refusing_server() -> AsyncIterator[str]:
    """A WebSocket server that answers every opening handshake 401."""

    def refuse(connection: Any, request: Any) -> Response:
        return Response(401, "Unauthorized", Headers(), b"")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=refuse) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ocpp"


def test_failed_to_authenticate_at_csms_is_logged_not_pushed(core: Backend, v2: str) -> None:
    """A201 appendix 1 FailedToAuthenticateAtCsms (not critical; SW 8
    FailedToAuthenticateAtCentralSystem): HTTP 401 to the opening handshake: the security log
    only."""

    async def main() -> None:
        station = t2.make_station(v2)
        async with refusing_server() as url:
            await attempt(station, url, v2, password="0123456789abcdef")
        assert kinds(station) == ["FailedToAuthenticateAtCsms"]
        csms = t2.Csms()
        async with t2.connect(core, station, csms, v2):
            await t2.ready(station, csms)
            await asyncio.sleep(0.2)
        assert events(csms) == ["StartupOfTheDevice"]

        old = make_station()
        async with refusing_server() as url:
            await attempt(old, url, "ocpp1.6", password="0123456789abcdef")
        assert kinds(old) == ["FailedToAuthenticateAtCentralSystem"]

    t2.run(main())
