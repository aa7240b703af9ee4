"""The OCA test cases of OCPP 2.0.1 part 6 (P6) for the functional blocks L (firmware
management) and N (diagnostics, customer information), and the F06 triggers of an upload or a
download in progress (TC_F_16_CS, TC_F_19_CS), with the charging station as the system under
test (TC_*_CS), for the cases tests/test_station_firmware.py, tests/test_station_logs.py and
tests/test_station_v2.py do not already follow step by step. Each test plays the OCTT's part
with the test CSMS of tests/test_station_v2.py, a local aiohttp file server
(tests/test_station_firmware.py's `FileServer`) as the configured firmware_location and
log_location, and checks the case's tool validations in the order P6 gives them;
docs/station-conformance.md maps every case of those blocks to its test, or says why there is
none.

Firmware: E201 6.1.24 restructured the L cases (the reusable states
RebootBeforeFirmwareInstallation / RebootBeforeFirmwareActivation); the tests follow the amended
steps. Every L case (and TC_F_19_CS) sends a signed firmware (firmware.signingCertificate,
firmware.signature: "for certification only the implementation of the signed firmware update is
allowed", E201 6.1.27), so every test here does too: the manufacturer's root certificate is
installed in the station first, as a CSMS installs it (InstallCertificate
ManufacturerRootCertificate, M05), and <Configured signingCertificate> is a firmware signing
certificate of that root (`CertificateStore.issue_firmware_signer`), <Configured signature> its
signature over the file served (`ocppfast.security.firmware.sign_firmware`). The station then
reports SignatureVerified between Downloaded and what follows (L01.FR.04/05), InvalidSignature
with the security event InvalidFirmwareSignature for a signature of another file (TC_L_06_CS,
L01.FR.03), and answers InvalidCertificate with the security event
InvalidFirmwareSigningCertificate for a certificate of another root (TC_L_05_CS, L01.FR.02) and
Rejected for an unsigned request (TC_L_18_CS). tests/test_signed_firmware.py has the variants
(an RSA-PSS signer, an expired or a TLS certificate, a signature that is not base64, one byte of
the file flipped, 1.6)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from ocppfast._core import Backend
from ocppfast.security import pki as pki_module
from ocppfast.security.firmware import FirmwareSigner
from ocppfast.station.v2 import StationV2
from tests.aio import until
from tests.test_signed_firmware import Manufacturer, _manufacturer
from tests.test_station_firmware import (
    IMAGE,
    FileServer,
    evse_statuses,
    file_server,
    fw_statuses,
    text,
)
from tests.test_station_logs import get_log, log_statuses
from tests.test_station_oca import (
    TOKEN,
    TOKEN_TYPE,
    OcaCsms,
    cache_token,
    configure,
    idle_queue,
    local_list_of,
)
from tests.test_station_v2 import (
    NOW,
    Csms,
    booted,
    connect,
    get,
    make_station,
    put,
    ready,
    remote_start,
    run,
    set_variables,
    v2,
)

__all__ = ["v2"]

# P6's <Current DateTime - 2 hours> for retrieveDateTime / installDateTime.
PAST = NOW - timedelta(hours=2)
# P6's <Configured Download / Install Offset Period>: the station's clock stands still in the
# tests (NOW), so this is also the real time the station waits.
OFFSET = timedelta(seconds=0.3)


@pytest.fixture(scope="module")
def makers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Manufacturer, Manufacturer]:
    """(the station's manufacturer, another manufacturer): each a root CA and its firmware
    signing certificates, made as `ocppfast certs` makes them (tests/test_signed_firmware.py's
    `Manufacturer`). Dated a day before the test clock (NOW) and the real time, whichever is
    earlier: the station checks a root it is asked to install against its own clock (M05.FR.06:
    not valid yet would be Rejected), and a signing certificate against the real time."""
    dated = min(NOW, datetime.now(timezone.utc)) - timedelta(days=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pki_module, "_now", lambda: dated)
        return (
            _manufacturer(tmp_path_factory.mktemp("maker"), "Maker"),
            _manufacturer(tmp_path_factory.mktemp("other"), "Other Maker"),
        )


@pytest.fixture
def maker(makers: tuple[Manufacturer, Manufacturer]) -> Manufacturer:
    """The station's manufacturer."""
    return makers[0]


async def trust(connection: Any, m: Any, maker: Manufacturer) -> None:
    """What the signed L cases take for granted: the station trusts the manufacturer's root,
    installed as a CSMS installs it: InstallCertificateRequest certificateType
    ManufacturerRootCertificate (M05, TC_M_07_CS's message), Accepted."""
    pem = maker.root.public_bytes(serialization.Encoding.PEM).decode("ascii")
    request = m.InstallCertificateRequest(
        certificate_type="ManufacturerRootCertificate", certificate=pem
    )
    assert text((await connection.call(request)).status) == "Accepted"


def signed(
    m: Any,
    location: str,
    signer: FirmwareSigner,
    request_id: int,
    *,
    install_date_time: datetime | None = PAST,
    retrieve_date_time: datetime = PAST,
    signature: str | None = None,
) -> Any:
    """P6's UpdateFirmwareRequest: firmware.location `location`, retrieveDateTime and
    installDateTime (<Current DateTime - 2 hours> unless told; None: omitted),
    signingCertificate <Configured signingCertificate> (`signer`'s) and signature
    <Configured signature>: `signer`'s signature over the image the file server serves, unless
    `signature` is given."""
    firmware: dict[str, Any] = {}
    if install_date_time is not None:
        firmware["install_date_time"] = install_date_time
    return m.UpdateFirmwareRequest(
        request_id=request_id,
        firmware=m.Firmware(
            location=location,
            retrieve_date_time=retrieve_date_time,
            signing_certificate=signer.certificate_pem,
            signature=signer.sign(IMAGE) if signature is None else signature,
            **firmware,
        ),
    )


class MissingFileServer(FileServer):
    """The file server with TC_L_07_CS's <Configured firmware location> + "_does_not_exist":
    404 Not Found for such a name."""

    async def _get(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name.endswith("_does_not_exist"):
            self.hits[name] = self.hits.get(name, 0) + 1
            return web.Response(status=404, text="no such firmware")
        return await super()._get(request)


@contextlib.asynccontextmanager
async def missing_file_server() -> AsyncIterator[FileServer]:
    server = MissingFileServer()
    await server.start()
    try:
        yield server
    finally:
        server.stopping.set()
        await server.runner.cleanup()


@contextlib.asynccontextmanager
async def unanswered_server() -> AsyncIterator[FileServer]:
    """A server that takes the connection and never answers: an upload to it is "in
    progress" for as long as a test needs (its `url` as for a FileServer)."""
    server = FileServer()
    never = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", server.port)
    async with never:
        yield server


@contextlib.asynccontextmanager
async def trusting_station(
    core: Backend, v2: str, maker: Manufacturer, station: StationV2 | None = None
) -> AsyncIterator[tuple[FileServer, StationV2, Csms, Any]]:
    """The start of every signed L case: a file server, the station (`station`, else a new
    one) booted at a test CSMS, and `maker`'s root installed in it (`trust`); yields (file
    server, station, csms, the CSMS's connection)."""
    async with file_server() as server:
        station = station if station is not None else make_station(v2)
        csms = Csms()
        async with connect(core, station, csms, v2) as connection:
            await ready(station, csms)
            await trust(connection, csms.m, maker)
            yield server, station, csms, connection


async def rebooted_into_the_firmware(
    core: Backend, station: StationV2, v2: str, request_id: int
) -> Csms:
    """The end of every successful L case (E201 6.1.24), once the station closed its connection
    to reboot: RebootBeforeFirmwareActivation step 3, BootNotificationRequest reason
    FirmwareUpdate; step 5 / the case's "notifies the CSMS about the current state of all
    connectors", StatusNotificationRequest connectorStatus Available; then (in any order)
    FirmwareStatusNotificationRequest Installed with the requestId and
    SecurityEventNotificationRequest type FirmwareUpdated."""
    after = Csms()
    async with connect(core, station, after, v2):
        await ready(station, after)
        await after.wait("FirmwareStatusNotification")
        await after.wait("SecurityEventNotification", where=lambda r: r.type == "FirmwareUpdated")
        (boot,) = after.of("BootNotification")
        assert text(boot.reason) == "FirmwareUpdate"
        await after.wait("StatusNotification", 2)
        assert {(s.evse_id, text(s.connector_status)) for s in after.of("StatusNotification")} == {
            (1, "Available"),
            (2, "Available"),
        }
        assert fw_statuses(after) == [("Installed", request_id)]
    return after


async def install_and_reboot(
    connection: Any, csms: Csms, statuses: list[str], request_id: int
) -> None:
    """The station reports `statuses` (each with `request_id`), the last one InstallRebooting
    (RebootBeforeFirmwareActivation step 1), and closes its connection to reboot."""
    await csms.wait("FirmwareStatusNotification", len(statuses))
    await until(lambda: connection.closed)
    assert fw_statuses(csms) == [(status, request_id) for status in statuses]


def security_events(csms: Csms) -> list[str]:
    return [text(r.type) for r in csms.of("SecurityEventNotification")]


# ------------------------------------------------------------------------------------------
# L Firmware management


def test_TC_L_01_CS_installation_successful(core: Backend, v2: str, maker: Manufacturer) -> None:
    """TC_L_01_CS as E201 6.1.24 amends it: installDateTime and retrieveDateTime <Current
    DateTime - 2 hours>, the firmware signed (ECDSA): UpdateFirmwareResponse Accepted (step 2);
    FirmwareStatusNotification Downloading (3), Downloaded (5), SignatureVerified (7),
    Installing (12); RebootBeforeFirmwareActivation (14): InstallRebooting, the boot with reason
    FirmwareUpdate, the connectors Available (16); Installed (18); FirmwareUpdated (20). The
    optional step 9 (connectors Unavailable before the installation) is not taken: no
    transaction runs. The station installs the very image served."""

    async def main() -> None:
        async with trusting_station(core, v2, maker) as (server, station, csms, connection):
            request = signed(csms.m, server.url("/fw/good.bin"), maker.signer, 11)
            assert text((await connection.call(request)).status) == "Accepted"
            await install_and_reboot(
                connection,
                csms,
                ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                 "InstallRebooting"],
                11,
            )  # fmt: skip
            installed = station.hardware.installed  # type: ignore[attr-defined]
            assert [(image.name, image.content) for image in installed] == [("good.bin", IMAGE)]
            await rebooted_into_the_firmware(core, station, v2, 11)

    run(main())


def test_TC_L_02_CS_install_scheduled(core: Backend, v2: str, maker: Manufacturer) -> None:
    """TC_L_02_CS as E201 6.1.24 amends it: installDateTime <Current DateTime + Install Offset
    Period>, the firmware signed: Accepted (2); Downloading (3), Downloaded (5),
    SignatureVerified (7), InstallScheduled (9, L01.FR.16); once installDateTime is reached
    Installing (14); RebootBeforeFirmwareActivation, the connectors Available (18), Installed
    (20), FirmwareUpdated (22)."""

    async def main() -> None:
        async with trusting_station(core, v2, maker) as (server, station, csms, connection):
            request = signed(
                csms.m, server.url("/fw/good.bin"), maker.signer, 12,
                install_date_time=NOW + OFFSET,
            )  # fmt: skip
            assert text((await connection.call(request)).status) == "Accepted"
            await install_and_reboot(
                connection,
                csms,
                ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled",
                 "Installing", "InstallRebooting"],
                12,
            )  # fmt: skip
            await rebooted_into_the_firmware(core, station, v2, 12)

    run(main())


def test_TC_L_03_CS_download_scheduled(core: Backend, v2: str, maker: Manufacturer) -> None:
    """TC_L_03_CS as E201 6.1.24 amends it: retrieveDateTime <Current DateTime + Download Offset
    Period>, installDateTime <Current DateTime - 2 hours>, the firmware signed: Accepted (2);
    DownloadScheduled (3), once retrieveDateTime is reached Downloading (5), Downloaded (7),
    SignatureVerified (9), Installing (14); RebootBeforeFirmwareActivation, the connectors
    Available (18), Installed (20), FirmwareUpdated (22). Nothing is fetched before
    retrieveDateTime."""

    async def main() -> None:
        async with trusting_station(core, v2, maker) as (server, station, csms, connection):
            request = signed(
                csms.m, server.url("/fw/good.bin"), maker.signer, 13,
                retrieve_date_time=NOW + OFFSET,
            )  # fmt: skip
            assert text((await connection.call(request)).status) == "Accepted"
            await csms.wait("FirmwareStatusNotification")
            assert fw_statuses(csms) == [("DownloadScheduled", 13)]
            assert server.hits == {}
            await install_and_reboot(
                connection,
                csms,
                ["DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified",
                 "Installing", "InstallRebooting"],
                13,
            )  # fmt: skip
            await rebooted_into_the_firmware(core, station, v2, 13)

    run(main())


def test_TC_L_05_CS_invalid_certificate(
    core: Backend, v2: str, makers: tuple[Manufacturer, Manufacturer]
) -> None:
    """TC_L_05_CS with E201 6.1.25: signingCertificate <Configured invalid firmware
    signingCertificate> - "a generated invalid certificate": a firmware signing certificate of
    another manufacturer's root, with its real signature of the file: UpdateFirmwareResponse
    InvalidCertificate (step 2, L01.FR.02/23/24; never RevokedCertificate, the other status
    the case allows: the station checks no revocation, L01.FR.25), SecurityEventNotification
    InvalidFirmwareSigningCertificate (step 3); nothing is downloaded and no
    FirmwareStatusNotification follows."""
    maker, other = makers

    async def main() -> None:
        async with file_server() as server, booted(core, v2, Csms()) as (
            station, csms, connection, m,
        ):  # fmt: skip
            await trust(connection, m, maker)
            request = signed(m, server.url("/fw/good.bin"), other.signer, 15)
            assert text((await connection.call(request)).status) == "InvalidCertificate"
            await csms.wait(
                "SecurityEventNotification",
                where=lambda r: r.type == "InvalidFirmwareSigningCertificate",
            )
            await idle_queue(connection)
            assert server.hits == {}
            assert csms.of("FirmwareStatusNotification") == []
            assert station.hardware.installed == []  # type: ignore[attr-defined]

    run(main())


def test_TC_L_06_CS_invalid_signature(core: Backend, v2: str, maker: Manufacturer) -> None:
    """TC_L_06_CS as E201 6.1.24 amends it: the file at <Configured firmware_location>, the
    valid signingCertificate, signature <Configured invalid firmware signature> - "a real
    signature": the signer's, of another file: Accepted (2; the certificate is valid,
    L01.FR.23); Downloading (3), Downloaded (5), InvalidSignature (7, L01.FR.03/04: the
    signature is checked over the whole file); SecurityEventNotification
    InvalidFirmwareSignature (9). Nothing is installed, no reboot."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, Csms()) as (
            station, csms, connection, m,
        ):  # fmt: skip
            await trust(connection, m, maker)
            other_file = maker.signer.sign(b"another firmware image")
            request = signed(m, server.url("/fw/good.bin"), maker.signer, 16, signature=other_file)
            assert text((await connection.call(request)).status) == "Accepted"
            await csms.wait(
                "SecurityEventNotification", where=lambda r: r.type == "InvalidFirmwareSignature"
            )
            await csms.wait("FirmwareStatusNotification", 3)
            assert fw_statuses(csms) == [
                ("Downloading", 16),
                ("Downloaded", 16),
                ("InvalidSignature", 16),
            ]
            await idle_queue(connection)
            assert len(fw_statuses(csms)) == 3
            assert station.hardware.installed == []  # type: ignore[attr-defined]
            assert not connection.closed

    run(main())


def test_TC_L_07_CS_download_failed(core: Backend, v2: str, maker: Manufacturer) -> None:
    """TC_L_07_CS as E201 6.1.24 amends it: firmware.location <Configured firmware location> +
    "_does_not_exist" (the file server answers 404), the request signed: Accepted (2);
    Downloading (3), DownloadFailed (5), with the requestId; nothing is installed and no reboot
    follows."""

    async def main() -> None:
        async with missing_file_server() as server, booted(core, v2, Csms()) as (
            station, csms, connection, m,
        ):  # fmt: skip
            await trust(connection, m, maker)
            location = server.url("/fw/good.bin") + "_does_not_exist"
            request = signed(m, location, maker.signer, 17)
            assert text((await connection.call(request)).status) == "Accepted"
            await csms.wait("FirmwareStatusNotification", 2)
            assert fw_statuses(csms) == [("Downloading", 17), ("DownloadFailed", 17)]
            assert server.hits == {"good.bin_does_not_exist": 1}
            assert station.hardware.installed == []  # type: ignore[attr-defined]
            assert not connection.closed

    run(main())


@contextlib.asynccontextmanager
async def failing_installation(
    core: Backend, v2: str, maker: Manufacturer
) -> AsyncIterator[tuple[StationV2, Csms, Any]]:
    """TC_L_08_CS steps 1-18: <Configured invalid firmware location>, an image the charger's
    electronics refuse to install, with a trusted signingCertificate and a real signature
    (SignatureVerified first); yields (station, csms, connection) once the station reported
    InstallationFailed, the connection still open."""
    async with file_server() as server:
        station = make_station(v2)
        station.hardware.fail_install = True  # type: ignore[attr-defined]
        csms = Csms()
        async with connect(core, station, csms, v2) as connection:
            await ready(station, csms)
            await trust(connection, csms.m, maker)
            request = signed(csms.m, server.url("/fw/bad.bin"), maker.signer, 18)
            assert text((await connection.call(request)).status) == "Accepted"
            await csms.wait("FirmwareStatusNotification", 5)
            yield station, csms, connection


def test_TC_L_08_CS_installation_failed(core: Backend, v2: str, maker: Manufacturer) -> None:
    """TC_L_08_CS as E201 6.1.24 amends it, steps 1-18: Accepted (2); Downloading (3),
    Downloaded (5), SignatureVerified (7), Installing (12), InstallationFailed (18), with the
    requestId. No reboot (the old firmware keeps running; steps 14-17 are for a reboot). Step
    20 (FirmwareUpdated after a failed installation): see the xfail test below."""

    async def main() -> None:
        async with failing_installation(core, v2, maker) as (station, csms, connection):
            assert fw_statuses(csms) == [
                ("Downloading", 18),
                ("Downloaded", 18),
                ("SignatureVerified", 18),
                ("Installing", 18),
                ("InstallationFailed", 18),
            ]
            assert not connection.closed
            assert station.booted.is_set()

    run(main())


@pytest.mark.xfail(
    strict=True,
    reason="TC_L_08_CS step 20 (added by E201 6.1.24, absent from P6's own TC_L_08_CS): the "
    "station sends no SecurityEventNotification FirmwareUpdated after InstallationFailed - "
    "the security event means 'the firmware is updated' (A201 appendix 1), and it was not",
)
def test_TC_L_08_CS_step_20_firmware_updated_after_the_failure(
    core: Backend, maker: Manufacturer
) -> None:
    """TC_L_08_CS step 20 as E201 6.1.24 writes it: after InstallationFailed (18), a
    SecurityEventNotificationRequest type FirmwareUpdated. Once everything the station had to
    send is sent (its queue empty), the event is not among what it sent."""

    async def main() -> None:
        async with failing_installation(core, "ocpp2.0.1", maker) as (_s, csms, connection):
            await idle_queue(connection)
            assert "FirmwareUpdated" in security_events(csms)

    run(main())


def test_TC_L_10_CS_accepted_canceled(core: Backend, v2: str, maker: Manufacturer) -> None:
    """TC_L_10_CS as E201 6.1.24 amends it, both requests signed: the first UpdateFirmware
    Accepted (2), Downloading (3) - its download stalls; the second UpdateFirmware
    AcceptedCanceled (6, L01.FR.24); from then on every FirmwareStatusNotification carries the
    second requestId: Downloading (7), Downloaded (9), SignatureVerified (11), Installing (16),
    RebootBeforeFirmwareActivation, the connectors Available (20), Installed (22),
    FirmwareUpdated (24). The image installed is the second one's."""

    async def main() -> None:
        async with trusting_station(core, v2, maker) as (server, station, csms, connection):
            m = csms.m
            first = signed(m, server.url("/stall/first.bin"), maker.signer, 1)
            assert text((await connection.call(first)).status) == "Accepted"
            await csms.wait("FirmwareStatusNotification")
            await until(lambda: server.hits.get("stall") == 1)
            second = signed(m, server.url("/fw/second.bin"), maker.signer, 2)
            assert text((await connection.call(second)).status) == "AcceptedCanceled"
            await csms.wait("FirmwareStatusNotification", 6)
            await until(lambda: connection.closed)
            assert fw_statuses(csms) == [
                ("Downloading", 1),
                ("Downloading", 2),
                ("Downloaded", 2),
                ("SignatureVerified", 2),
                ("Installing", 2),
                ("InstallRebooting", 2),
            ]
            installed = station.hardware.installed  # type: ignore[attr-defined]
            assert [image.name for image in installed] == ["second.bin"]
            await rebooted_into_the_firmware(core, station, v2, 2)

    run(main())


def test_TC_L_14_CS_new_sessions_allowed_pending_the_installation(
    core: Backend, v2: str, maker: Manufacturer
) -> None:
    """TC_L_14_CS as E201 6.1.24 amends it (C-20, AQ-7; L01.FR.06): Before,
    ChargingStation.AllowNewSessionsPendingFirmwareUpdate true and EnergyTransferStarted on EVSE
    1; the request signed: Accepted (2); Downloading (3), Downloaded (5), SignatureVerified
    (7), InstallScheduled (9: the transaction runs); a second transaction starts on EVSE 2
    (11); ParkingBayUnoccupied on EVSE 1 (12): nothing installs while EVSE 2 charges, and no
    connector is Unavailable (step 14 optional, not taken); ParkingBayUnoccupied on EVSE 2 (13);
    Installing (17); RebootBeforeFirmwareActivation, the connectors Available (21), Installed
    (23), FirmwareUpdated (25)."""

    async def main() -> None:
        async with trusting_station(core, v2, maker) as (server, station, csms, connection):
            m = csms.m
            allow = put(m, "ChargingStation", "AllowNewSessionsPendingFirmwareUpdate", "true")
            assert await set_variables(connection, allow) == ["Accepted"]
            await station.start_transaction(1, "TAG1")
            request = signed(m, server.url("/fw/good.bin"), maker.signer, 14)
            assert text((await connection.call(request)).status) == "Accepted"
            await csms.wait("FirmwareStatusNotification", 4)
            assert fw_statuses(csms) == [
                ("Downloading", 14),
                ("Downloaded", 14),
                ("SignatureVerified", 14),
                ("InstallScheduled", 14),
            ]
            await station.start_transaction(2, "TAG2")
            await station.unplug(1)
            await until(lambda: 1 not in station.transactions)
            await idle_queue(connection)
            assert len(fw_statuses(csms)) == 4
            assert station.hardware.installed == []  # type: ignore[attr-defined]
            await station.unplug(2)
            await install_and_reboot(
                connection,
                csms,
                ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled",
                 "Installing", "InstallRebooting"],
                14,
            )  # fmt: skip
            unavailable = evse_statuses(csms, 1) + evse_statuses(csms, 2)
            assert "Unavailable" not in unavailable
            await rebooted_into_the_firmware(core, station, v2, 14)

    run(main())


def test_TC_L_15_CS_idle_evses_unavailable_pending_the_installation(
    core: Backend, v2: str, maker: Manufacturer
) -> None:
    """TC_L_15_CS as E201 6.1.24 amends it (L01.FR.06, L01.FR.07): Before,
    ChargingStation.AllowNewSessionsPendingFirmwareUpdate false (the station's default, read
    back) and EnergyTransferStarted on EVSE 1; the request signed: Accepted (2); Downloading
    (3), Downloaded (5), SignatureVerified (7), InstallScheduled (9, the optional step: sent);
    the Available EVSE 2 Unavailable (11), refusing a new session; ParkingBayUnoccupied on EVSE
    1 (13), then EVSE 1 Unavailable (14); Installing (17); RebootBeforeFirmwareActivation, both
    connectors Available (21), Installed (23), FirmwareUpdated (25)."""

    async def main() -> None:
        async with trusting_station(core, v2, maker) as (server, station, csms, connection):
            m = csms.m
            allowed = get(m, "ChargingStation", "AllowNewSessionsPendingFirmwareUpdate")
            (result,) = (
                await connection.call(m.GetVariablesRequest(get_variable_data=[allowed]))
            ).get_variable_result
            assert result.attribute_value == "false"
            await station.start_transaction(1, "TAG1")
            request = signed(m, server.url("/fw/good.bin"), maker.signer, 15)
            assert text((await connection.call(request)).status) == "Accepted"
            await csms.wait("FirmwareStatusNotification", 4)
            await csms.wait(
                "StatusNotification",
                where=lambda r: r.evse_id == 2 and text(r.connector_status) == "Unavailable",
            )
            assert fw_statuses(csms) == [
                ("Downloading", 15),
                ("Downloaded", 15),
                ("SignatureVerified", 15),
                ("InstallScheduled", 15),
            ]
            refused = await remote_start(connection, "TAG2", evse=2)
            assert text(refused.status) == "Rejected"
            assert station.hardware.installed == []  # type: ignore[attr-defined]
            await station.unplug(1)
            await install_and_reboot(
                connection,
                csms,
                ["Downloading", "Downloaded", "SignatureVerified", "InstallScheduled",
                 "Installing", "InstallRebooting"],
                15,
            )  # fmt: skip
            assert evse_statuses(csms, 1)[-1] == "Unavailable"
            await rebooted_into_the_firmware(core, station, v2, 15)

    run(main())


def test_TC_L_18_CS_unsigned_update_rejected(core: Backend, v2: str, maker: Manufacturer) -> None:
    """TC_L_18_CS: a station that supports the secure firmware update (the manufacturer root
    installed) answers an UpdateFirmwareRequest with installDateTime and retrieveDateTime
    <Current DateTime - 2 hours>, signingCertificate and signature omitted, Rejected (step 2:
    Rejected or InvalidCertificate); nothing is downloaded."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, Csms()) as (
            station, csms, connection, m,
        ):  # fmt: skip
            await trust(connection, m, maker)
            request = m.UpdateFirmwareRequest(
                request_id=18,
                firmware=m.Firmware(
                    location=server.url("/fw/good.bin"),
                    retrieve_date_time=PAST,
                    install_date_time=PAST,
                ),
            )
            assert text((await connection.call(request)).status) == "Rejected"
            await idle_queue(connection)
            assert server.hits == {}
            assert csms.of("FirmwareStatusNotification") == []
            assert station.hardware.installed == []  # type: ignore[attr-defined]

    run(main())


# ------------------------------------------------------------------------------------------
# F06 triggers of a transfer in progress


def test_TC_F_19_CS_trigger_firmware_status_while_downloading(
    core: Backend, v2: str, maker: Manufacturer
) -> None:
    """TC_F_19_CS (L01.FR.26): UpdateFirmware with retrieveDateTime <Current dateTime - 2
    hours>, installDateTime omitted, signingCertificate and signature: UpdateFirmwareResponse
    Accepted (2); FirmwareStatusNotification Downloading (3); while the download runs (the file
    server stalls), TriggerMessage FirmwareStatusNotification: Accepted (6),
    FirmwareStatusNotification Downloading (7) with the requestId."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, Csms()) as (_s, csms, connection, m):
            await trust(connection, m, maker)
            request = signed(
                m, server.url("/stall/image.bin"), maker.signer, 19, install_date_time=None
            )
            assert text((await connection.call(request)).status) == "Accepted"
            await csms.wait("FirmwareStatusNotification")
            await until(lambda: server.hits.get("stall") == 1)
            trigger = m.TriggerMessageRequest(requested_message="FirmwareStatusNotification")
            assert text((await connection.call(trigger)).status) == "Accepted"
            await csms.wait("FirmwareStatusNotification", 2)
            assert fw_statuses(csms) == [("Downloading", 19), ("Downloading", 19)]

    run(main())


def test_TC_F_16_CS_trigger_log_status_while_uploading(core: Backend, v2: str) -> None:
    """TC_F_16_CS: GetLog DiagnosticsLog to <Configured log_location>: GetLogResponse Accepted
    (2); LogStatusNotification Uploading (3); while the upload runs (the server never answers),
    TriggerMessage LogStatusNotification: Accepted (6), LogStatusNotification Uploading (7),
    with the requestId (F06.FR.15)."""

    async def main() -> None:
        async with unanswered_server() as server, booted(core, v2, Csms()) as (
            _station, csms, connection, m,
        ):  # fmt: skip
            answer = await connection.call(get_log(m, server.url("/up/"), 16))
            assert text(answer.status) == "Accepted"
            await csms.wait("LogStatusNotification")
            trigger = m.TriggerMessageRequest(requested_message="LogStatusNotification")
            assert text((await connection.call(trigger)).status) == "Accepted"
            await csms.wait("LogStatusNotification", 2)
            assert log_statuses(csms) == [("Uploading", 16), ("Uploading", 16)]

    run(main())


# ------------------------------------------------------------------------------------------
# N Diagnostics: N01 Retrieve log information


def test_TC_N_26_CS_upload_failed_after_the_retries(core: Backend, v2: str) -> None:
    """TC_N_26_CS as E201 6.1.29 amends it: GetLog DiagnosticsLog, retries 3, to a location that
    refuses the upload: GetLogResponse Accepted (2); LogStatusNotification Uploading (3) for
    each of the four attempts (optional after the first: sent), then UploadFailure (5), every
    one with the requestId. The interval between the attempts (a real-time wait) is not
    measured: retryInterval is 0 here."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, Csms()) as (_s, csms, connection, m):
            request = get_log(m, server.url("/fail/"), 26, retries=3, retry_interval=0)
            assert text((await connection.call(request)).status) == "Accepted"
            await csms.wait("LogStatusNotification", 5)
            assert log_statuses(csms) == [("Uploading", 26)] * 4 + [("UploadFailure", 26)]
            assert server.hits["fail"] == 4

    run(main())


def test_TC_N_35_CS_security_log_success(core: Backend, v2: str) -> None:
    """TC_N_35_CS (prerequisite as E201 6.1.31 amends it): GetLog SecurityLog: GetLogResponse
    Accepted (2); LogStatusNotification Uploading (3), Uploaded (5), with the requestId; the
    file arrives under the name the response gave."""

    async def main() -> None:
        async with file_server() as server, booted(core, v2, Csms()) as (_s, csms, connection, m):
            answer = await connection.call(get_log(m, server.url("/up/"), 35, kind="SecurityLog"))
            assert text(answer.status) == "Accepted"
            await csms.wait("LogStatusNotification", 2)
            assert log_statuses(csms) == [("Uploading", 35), ("Uploaded", 35)]
            assert answer.filename in server.uploads

    run(main())


@pytest.mark.parametrize("log_type", ["DiagnosticsLog", "SecurityLog"])
def test_TC_N_36_CS_second_request_cancels_the_upload(
    core: Backend, v2: str, log_type: str
) -> None:
    """TC_N_36_CS (C-57; E201 6.1.30, 6.1.31), for either <Configured logType>: the first GetLog
    Accepted (2), LogStatusNotification Uploading (3) - the upload is in progress (its server
    never answers); the second GetLog AcceptedCanceled (6, N01.FR.12); LogStatusNotification
    AcceptedCanceled (7), then Uploading (9) and Uploaded (11) with the second requestId."""

    async def main() -> None:
        async with file_server() as server, unanswered_server() as never, booted(
            core, v2, Csms()
        ) as (_station, csms, connection, m):  # fmt: skip
            first = await connection.call(get_log(m, never.url("/up/"), 1, kind=log_type))
            assert text(first.status) == "Accepted"
            await csms.wait("LogStatusNotification")
            second = await connection.call(get_log(m, server.url("/up/"), 2, kind=log_type))
            assert text(second.status) == "AcceptedCanceled"
            await csms.wait("LogStatusNotification", 4)
            assert [status for status, _ in log_statuses(csms)] == [
                "Uploading",
                "AcceptedCanceled",
                "Uploading",
                "Uploaded",
            ]
            assert log_statuses(csms)[0] == ("Uploading", 1)
            assert log_statuses(csms)[2:] == [("Uploading", 2), ("Uploaded", 2)]
            assert second.filename in server.uploads

    run(main())


# ------------------------------------------------------------------------------------------
# N Diagnostics: N09 Get customer information, N10 Clear customer information


def customer(m: Any, request_id: int, *, report: bool, clear: bool, token: str = TOKEN) -> Any:
    """CustomerInformationRequest for <Configured valid idToken fields>."""
    return m.CustomerInformationRequest(
        request_id=request_id,
        report=report,
        clear=clear,
        id_token=m.IdToken(id_token=token, type=TOKEN_TYPE),
    )


async def reports(csms: Csms, request_id: int) -> list[Any]:
    """Every NotifyCustomerInformationRequest of `request_id`, up to the one with tbc false
    (P6 "All report parts have been received"), in seqNo order."""
    await csms.wait(
        "NotifyCustomerInformation", where=lambda r: r.request_id == request_id and not r.tbc
    )
    parts = [r for r in csms.of("NotifyCustomerInformation") if r.request_id == request_id]
    assert [part.seq_no for part in parts] == list(range(len(parts)))
    return parts


# P6's memory states of TC_N_27_CS / TC_N_30_CS, "(If implemented)" each: the station keeps an
# idToken in one of its lists (the local list takes precedence, C14), so each case runs twice.
MEMORY = pytest.mark.parametrize("memory", ["IdTokenCached", "IdTokenLocalAuthList"])
# Where each memory state puts the idToken, as the station's report names it.
KEPT_IN = {"IdTokenCached": "authorization cache", "IdTokenLocalAuthList": "local list"}


async def customer_known(connection: Any, station: StationV2, csms: OcaCsms, memory: str) -> None:
    """TC_N_27_CS / TC_N_30_CS "Before": LocalAuthListCtrlr.Enabled, AuthCtrlr.LocalPreAuthorize
    and AuthCacheCtrlr.Enabled true; memory state `memory` for the idToken; charging states
    Authorized (local) then ParkingBayUnoccupied (a session of the idToken, over, the EV
    gone)."""
    await configure(
        connection,
        ("LocalAuthListCtrlr", "Enabled", "true"),
        ("AuthCtrlr", "LocalPreAuthorize", "true"),
        ("AuthCacheCtrlr", "Enabled", "true"),
    )
    if memory == "IdTokenCached":
        await cache_token(connection, station, csms, TOKEN, accepted=True)
        return
    await local_list_of(connection, (TOKEN, None))
    # Authorized from the list (no AuthorizeRequest), charged, the EV gone.
    await station.plug_in(1)
    await station.start_transaction(1, TOKEN)
    await station.stop_transaction(1)
    await station.unplug(1)
    await idle_queue(connection)
    assert csms.of("Authorize") == []


@MEMORY
def test_TC_N_27_CS_customer_information_with_data(core: Backend, v2: str, memory: str) -> None:
    """TC_N_27_CS (N09.FR.02, N09.FR.05): the idToken is known (in the authorization cache or
    the local list): CustomerInformation report true: Accepted (2); NotifyCustomerInformation
    (3) with data not empty - what the station keeps of the idToken; every part received (tbc
    false last)."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, m):
            await customer_known(connection, station, csms, memory)
            answer = await connection.call(customer(m, 27, report=True, clear=False))
            assert text(answer.status) == "Accepted"
            (part,) = await reports(csms, 27)
            assert part.data == f"{KEPT_IN[memory]}: {TOKEN} Accepted"

    run(main())


def test_TC_N_28_CS_customer_information_without_data(core: Backend, v2: str) -> None:
    """TC_N_28_CS (N09.FR.02, N09.FR.06): memory state: the CSMS had the customer information
    of the idToken cleared; CustomerInformation report true: Accepted (2);
    NotifyCustomerInformation (3) tbc not true, saying that no data was found."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, m):
            await cache_token(connection, station, csms, TOKEN, accepted=True)
            cleared = await connection.call(customer(m, 1, report=False, clear=True))
            assert text(cleared.status) == "Accepted"
            answer = await connection.call(customer(m, 28, report=True, clear=False))
            assert text(answer.status) == "Accepted"
            (part,) = await reports(csms, 28)
            assert part.tbc is False
            assert "no data" in part.data

    run(main())


@MEMORY
def test_TC_N_30_CS_clear_and_report_with_data(core: Backend, v2: str, memory: str) -> None:
    """TC_N_30_CS (N10.FR.01, N10.FR.03): the idToken known as for TC_N_27_CS;
    CustomerInformation report true, clear true: Accepted (2); NotifyCustomerInformation (3)
    data not empty. Step 5 (optional): CustomerInformation report true: Accepted (6);
    NotifyCustomerInformation (7) tbc not true (8): the idToken is gone from the authorization
    cache; the local list, the CSMS's own, keeps it (the case's purpose: "removes all customer
    related data (except from LocalList)")."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (station, csms, connection, m):
            await customer_known(connection, station, csms, memory)
            answer = await connection.call(customer(m, 30, report=True, clear=True))
            assert text(answer.status) == "Accepted"
            (part,) = await reports(csms, 30)
            assert part.data.startswith(f"{KEPT_IN[memory]}: {TOKEN} Accepted")
            again = await connection.call(customer(m, 31, report=True, clear=False))
            assert text(again.status) == "Accepted"
            (after,) = await reports(csms, 31)
            assert after.tbc is False
            if memory == "IdTokenCached":
                assert after.data == "no data about this customer"
            else:
                assert after.data == f"local list: {TOKEN} Accepted"

    run(main())


def test_TC_N_31_CS_clear_and_report_without_data(core: Backend, v2: str) -> None:
    """TC_N_31_CS (N10.FR.01, N10.FR.04): nothing is known of the idToken;
    CustomerInformation report true, clear true: Accepted (2); NotifyCustomerInformation (3)
    saying that no data was found."""

    async def main() -> None:
        async with booted(core, v2, Csms()) as (_station, csms, connection, m):
            answer = await connection.call(customer(m, 31, report=True, clear=True))
            assert text(answer.status) == "Accepted"
            (part,) = await reports(csms, 31)
            assert "no data" in part.data

    run(main())


def test_TC_N_32_CS_clear_without_report_still_notifies(core: Backend) -> None:
    """TC_N_32_CS (N10.FR.01, N10.FR.06): CustomerInformation report false, clear true:
    Accepted (2); NotifyCustomerInformation (3), tbc not true, saying the data was cleared
    (post scenario validation)."""

    async def main() -> None:
        async with booted(core, "ocpp2.0.1", OcaCsms()) as (station, csms, connection, m):
            await cache_token(connection, station, csms, TOKEN, accepted=True)
            answer = await connection.call(customer(m, 32, report=False, clear=True))
            assert text(answer.status) == "Accepted"
            (part,) = await reports(csms, 32)
            assert "cleared" in part.data

    run(main())


def test_N09_FR_09_customer_named_exactly_once(core: Backend, v2: str) -> None:
    """N09.FR.09 (E201 2.13.2): a CustomerInformationRequest naming no customer, or more than
    one of idToken, customerCertificate and customerIdentifier, is answered Invalid and
    reports nothing."""

    async def main() -> None:
        async with booted(core, v2, OcaCsms()) as (_station, csms, connection, m):
            none = m.CustomerInformationRequest(request_id=90, report=True, clear=False)
            both = m.CustomerInformationRequest(
                request_id=91,
                report=True,
                clear=False,
                id_token=m.IdToken(id_token=TOKEN, type=TOKEN_TYPE),
                customer_identifier="customer-7",
            )
            for request in (none, both):
                answer = await connection.call(request)
                assert text(answer.status) == "Invalid"
            assert csms.of("NotifyCustomerInformation") == []

    run(main())
