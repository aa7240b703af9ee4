"""Reservations in both simulated stations: the 1.6 Reservation profile (C16 3.11, 5.1, 5.13,
4.8, 4.9, 9.3; C16E 4.12) and the 2.x functional block H (H01-H04; P6 reusable state Reserved;
E201 2.7.1, 2.8.x), over loopback pairs with an injected clock, and against the `ocpp` package's
central system over real sockets. P6 has no station-side TC_H_* test cases (its section 2.9 is
"intentionally blank"): the requirements are named by the ids P6 and E201 quote."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ocppfast import v16
from ocppfast._core import Backend
from ocppfast._core.message import UNSET
from ocppfast.asyncio import on
from ocppfast.station.store import StationData, StationStore
from ocppfast.station.v2 import StationError
from ocppfast.station.v16 import StationError as StationError16
from tests import test_station_v2 as t2
from tests import test_station_v16 as t16
from tests.aio import run
from tests.cli_process import CliProcess
from tests.test_interop_ocpp import PACKAGES, CentralSystem, station_args
from tests.test_station_v2 import V2, booted, connect, make_station, ready

NOW16 = t16.NOW
NOW2 = t2.NOW


# ------------------------------------------------------------------------------------------
# OCPP 1.6


def reserve16(
    connector: int, tag: str, rid: int, *, minutes: float = 30, parent: str | None = None
) -> v16.ReserveNowRequest:
    return v16.ReserveNowRequest(
        connector_id=connector,
        expiry_date=NOW16 + timedelta(minutes=minutes),
        id_tag=tag,
        reservation_id=rid,
        parent_id_tag=parent if parent is not None else UNSET,
    )


async def booted16(core: Backend, **options: Any) -> t16.Link:
    link = t16.Link(core, t16.make_station(**options), t16.Csms())
    await link.booted()
    return link


async def status_is(link: t16.Link, connector: int, status: str, after: int = 0) -> None:
    """Wait for the StatusNotification.req of `connector` saying `status` (the after-th on)."""
    await link.csms.wait_for(
        "StatusNotification",
        lambda r: r.connector_id == connector and r.status.value == status,
        count=after + 1,
    )


def test_16_reservation_profile_is_reported() -> None:
    """C16 9.1 SupportedFeatureProfiles lists Reservation (C16 3.3); C16 9.3.1
    ReserveConnectorZeroSupported: true, read-only."""
    station = t16.make_station()
    profiles = (station.get_configuration("SupportedFeatureProfiles") or "").split(",")
    assert "Reservation" in profiles
    assert station.get_configuration("ReserveConnectorZeroSupported") == "true"
    assert station.change_configuration("ReserveConnectorZeroSupported", "false") == "Rejected"


def test_16_reserved_connector_takes_only_its_id_tag(core: Backend) -> None:
    """C16 5.13: Accepted; C16 4.9 A7 Available -> Reserved (StatusNotification.req); "refuse
    charging for all incoming idTags on the reserved connector" but its own; the start by the
    reserved idTag carries the reservationId in StartTransaction.req (C16 4.8) and ends the
    reservation (5.13 (1)); the other connector is not reserved."""

    async def main() -> None:
        link = await booted16(core)
        station = link.station
        answer = await link.call(reserve16(1, "TAG-R", 7))
        assert answer.status == v16.ReservationStatus.Accepted
        await status_is(link, 1, "Reserved")
        assert station.connector_status(1) == "Reserved"
        assert station.connector_status(2) == "Available"
        with pytest.raises(StationError16, match="reserved for another id token"):
            await station.start_transaction(1, "OTHER")
        assert station.connector_status(1) == "Reserved"
        assert not link.csms.of("StartTransaction")
        await station.start_transaction(2, "OTHER")  # connector 2 is free
        await station.start_transaction(1, "tag-r")  # id tags are case-insensitive (C16 7.15)
        starts = link.csms.of("StartTransaction")
        assert [(s.connector_id, s.reservation_id) for s in starts] == [(2, UNSET), (1, 7)]
        assert station.connector_status(1) == "Charging"
        # The reservation was used up: nothing left to cancel.
        cancel = await link.call(v16.CancelReservationRequest(reservation_id=7))
        assert cancel.status == v16.CancelReservationStatus.Rejected
        await link.close()

    run(main())


def test_16_parent_id_tag_of_reservation(core: Backend) -> None:
    """C16 5.13: an incoming idTag whose parent idTag (from the Local Authorization List, C16
    3.5.2) matches the reservation's parentIdTag may use the reserved connector; another one
    may not."""

    async def main() -> None:
        link = await booted16(core)
        station = link.station
        entries = [
            v16.AuthorizationData(
                id_tag=tag,
                id_tag_info=v16.IdTagInfo(
                    status=v16.AuthorizationStatus.Accepted, parent_id_tag=parent
                ),
            )
            for tag, parent in (("CHILD", "FLEET"), ("STRANGER", "ELSEWHERE"))
        ]
        listed = await link.call(
            v16.SendLocalListRequest(
                list_version=1, update_type=v16.UpdateType.Full, local_authorization_list=entries
            )
        )
        assert listed.status == v16.UpdateStatus.Accepted
        answer = await link.call(reserve16(1, "OWNER", 8, parent="FLEET"))
        assert answer.status == v16.ReservationStatus.Accepted
        with pytest.raises(StationError16, match="reserved"):
            await station.start_transaction(1, "STRANGER")
        await station.start_transaction(1, "CHILD")
        (start,) = link.csms.of("StartTransaction")
        assert (start.id_tag, start.reservation_id) == ("CHILD", 8)
        await link.close()

    run(main())


def test_16_reserve_now_statuses_and_replacement(core: Backend) -> None:
    """C16 5.13 / 7.40: Occupied for a connector reserved by another reservation, with a
    transaction or an EV plugged in; Unavailable for an Inoperative connector (C16 5.2);
    Rejected for a connector that does not exist and an expiryDate already past; "If the
    reservationId in the request matches a reservation ... replace that reservation": the
    reservation moves (connector 1 Reserved -> Available, connector 2 Reserved)."""

    async def main() -> None:
        link = await booted16(core, connectors=3)
        station = link.station

        async def reserve(request: v16.ReserveNowRequest) -> str:
            return str((await link.call(request)).status.value)

        assert await reserve(reserve16(1, "A", 1)) == "Accepted"
        assert await reserve(reserve16(1, "B", 2)) == "Occupied"  # reserved by another
        assert await reserve(reserve16(1, "A", 3)) == "Occupied"  # "for the same ... idTag"
        await station.start_transaction(2, "X")
        assert await reserve(reserve16(2, "B", 2)) == "Occupied"  # a transaction
        await station.plug_in(3)
        assert await reserve(reserve16(3, "B", 2)) == "Occupied"  # an EV plugged in
        await station.unplug(3)
        unavailable = await link.call(
            v16.ChangeAvailabilityRequest(connector_id=3, type=v16.AvailabilityType.Inoperative)
        )
        assert unavailable.status == v16.AvailabilityStatus.Accepted
        assert await reserve(reserve16(3, "B", 2)) == "Unavailable"
        assert await reserve(reserve16(4, "B", 2)) == "Rejected"  # no connector 4
        assert await reserve(reserve16(1, "B", 2, minutes=-1)) == "Rejected"  # in the past
        await link.call(
            v16.ChangeAvailabilityRequest(connector_id=3, type=v16.AvailabilityType.Operative)
        )
        assert await reserve(reserve16(3, "A", 1)) == "Accepted"  # same id: moves
        await status_is(link, 1, "Available", after=1)
        await status_is(link, 3, "Reserved")
        assert station.connector_status(1) == "Available"
        await link.close()

    run(main())


def test_16_cancel_reservation(core: Backend) -> None:
    """C16 5.1: Accepted for a reservation the Charge Point has, then Rejected; C16 4.9 G1:
    Reserved -> Available, reported."""

    async def main() -> None:
        link = await booted16(core)
        await link.call(reserve16(2, "TAG", 11))
        await status_is(link, 2, "Reserved")
        cancel = await link.call(v16.CancelReservationRequest(reservation_id=11))
        assert cancel.status == v16.CancelReservationStatus.Accepted
        await status_is(link, 2, "Available", after=1)
        again = await link.call(v16.CancelReservationRequest(reservation_id=11))
        assert again.status == v16.CancelReservationStatus.Rejected
        await link.close()

    run(main())


def test_16_reservation_expires_at_expiry_date(core: Backend) -> None:
    """C16 5.13: "When a reservation expires, the Charge Point SHALL terminate the reservation
    and make the connector available ... send a status notification"; by the station's clock
    (the timer re-reads it until it got there)."""

    async def main() -> None:
        clock = t16.Clock()
        link = t16.Link(core, t16.make_station(clock), t16.Csms())
        await link.booted()
        request = v16.ReserveNowRequest(
            connector_id=1, expiry_date=NOW16 + timedelta(seconds=1), id_tag="T", reservation_id=3
        )
        assert (await link.call(request)).status == v16.ReservationStatus.Accepted
        await status_is(link, 1, "Reserved")
        clock.advance(seconds=1)
        await status_is(link, 1, "Available", after=1)
        assert link.station.connector_status(1) == "Available"
        await link.station.start_transaction(1, "SOMEONE")  # no longer reserved
        await link.close()

    run(main())


def test_16_connector_zero_keeps_a_connector_free(core: Backend) -> None:
    """C16 5.13, 9.3.1: connectorId 0 reserves no specific connector, but "one connector
    remains available for the reserved idTag": two of them on two free connectors hold both
    (Reserved), a third is Occupied; another idTag cannot take the last ones; the reserved
    idTag starts on either and its StartTransaction.req carries the reservationId (C16 3.11:
    "used ... on any connector")."""

    async def main() -> None:
        link = await booted16(core)
        station = link.station
        assert (await link.call(reserve16(0, "ZERO-1", 21))).status == "Accepted"
        assert station.connector_status(1) == station.connector_status(2) == "Available"
        assert (await link.call(reserve16(0, "ZERO-2", 22))).status == "Accepted"
        await status_is(link, 1, "Reserved")
        await status_is(link, 2, "Reserved")
        assert (await link.call(reserve16(0, "ZERO-3", 23))).status == "Occupied"
        assert (await link.call(reserve16(1, "ZERO-3", 23))).status == "Occupied"
        with pytest.raises(StationError16, match="reservation of any"):
            await station.start_transaction(1, "OTHER")
        await station.start_transaction(2, "ZERO-2")
        (start,) = link.csms.of("StartTransaction")
        assert (start.connector_id, start.reservation_id) == (2, 22)
        # Connector 1 is the last free one: still held for ZERO-1.
        assert station.connector_status(1) == "Reserved"
        await link.close()

    run(main())


def test_16_id_tag_with_a_reservation_on_another_connector(core: Backend) -> None:
    """C16 5.13 (1): a reservation of a specific connector is terminated by a transaction of
    its idTag "on the reserved connector": the idTag may charge on another free connector,
    without reservationId, and its reservation stays."""

    async def main() -> None:
        link = await booted16(core)
        station = link.station
        await link.call(reserve16(1, "TAG", 31))
        await station.start_transaction(2, "TAG")
        (start,) = link.csms.of("StartTransaction")
        assert (start.connector_id, start.reservation_id) == (2, UNSET)
        assert station.connector_status(1) == "Reserved"
        cancel = await link.call(v16.CancelReservationRequest(reservation_id=31))
        assert cancel.status == v16.CancelReservationStatus.Accepted
        await link.close()

    run(main())


def test_16_remote_start_on_a_reserved_connector(core: Backend) -> None:
    """C16 5.11 with 5.13: RemoteStartTransaction of another idTag on the reserved connector is
    Rejected, and without connectorId the Charge Point does not choose it; the reserved idTag
    is Accepted there and its StartTransaction.req carries the reservationId."""

    async def main() -> None:
        link = await booted16(core, connectors=1)
        await link.call(reserve16(1, "OWNER", 41))
        for connector in (1, UNSET):
            refused = await link.call(
                v16.RemoteStartTransactionRequest(id_tag="OTHER", connector_id=connector)
            )
            assert refused.status == v16.RemoteStartStopStatus.Rejected
        accepted = await link.call(v16.RemoteStartTransactionRequest(id_tag="OWNER"))
        assert accepted.status == v16.RemoteStartStopStatus.Accepted
        (start,) = await link.csms.wait_for("StartTransaction")
        assert (start.connector_id, start.id_tag, start.reservation_id) == (1, "OWNER", 41)
        await link.close()

    run(main())


def test_16_unavailable_terminates_the_reservation(core: Backend) -> None:
    """C16 5.13 (3): "when the Charge Point or connector are set to ... Unavailable" the
    reservation is terminated: the connector reports Unavailable, and later Available, not
    Reserved; CancelReservation finds nothing."""

    async def main() -> None:
        link = await booted16(core)
        await link.call(reserve16(1, "TAG", 51))
        await link.call(reserve16(0, "ANY", 52))
        await link.call(
            v16.ChangeAvailabilityRequest(connector_id=0, type=v16.AvailabilityType.Inoperative)
        )
        await status_is(link, 1, "Unavailable")
        await link.call(
            v16.ChangeAvailabilityRequest(connector_id=0, type=v16.AvailabilityType.Operative)
        )
        await status_is(link, 1, "Available", after=1)
        for rid in (51, 52):
            cancel = await link.call(v16.CancelReservationRequest(reservation_id=rid))
            assert cancel.status == v16.CancelReservationStatus.Rejected
        await link.close()

    run(main())


def test_16_reservation_survives_a_restart(core: Backend, tmp_path: Path) -> None:
    """Reservations are kept in the station's data file: a new process on it reports the
    connector Reserved after its boot, takes only the reserved idTag there, and expires the
    reservation at its time."""
    path = tmp_path / "station.sqlite3"

    async def main() -> None:
        store = await StationStore.open(path)
        data = await store.load("CP1")
        clock = t16.Clock()
        link = t16.Link(core, t16.make_station(clock, data=data), t16.Csms())
        await link.booted()
        request = v16.ReserveNowRequest(
            connector_id=2, expiry_date=NOW16 + timedelta(seconds=2), id_tag="T", reservation_id=9
        )
        assert (await link.call(request)).status == "Accepted"
        await link.close()
        await data.flush()
        await store.close()

        store = await StationStore.open(path)
        data = await store.load("CP1")
        link = t16.Link(core, t16.make_station(clock, data=data), t16.Csms())
        await link.booted()
        assert t16.statuses(link.csms, 2) == ["Reserved"]
        with pytest.raises(StationError16, match="reserved"):
            await link.station.start_transaction(2, "NOT-T")
        clock.advance(seconds=2)
        await status_is(link, 2, "Available")
        await link.close()
        await store.close()

    run(main())


# ------------------------------------------------------------------------------------------
# OCPP 2.0.1 / 2.1


@pytest.fixture(params=V2)
def v2x(request: pytest.FixtureRequest) -> str:
    """OCPP 2.0.1 and 2.1: one implementation serves both."""
    return str(request.param)


class Csms2(t2.Csms):
    """The test CSMS of test_station_v2, which also takes ReservationStatusUpdate."""

    @on("ReservationStatusUpdate", versions=V2)
    def reservation_status(self, request: Any) -> Any:
        self._got(request)
        return self.m.ReservationStatusUpdateResponse()


def reserve2(
    m: Any,
    rid: int,
    token: str,
    evse: int | None = None,
    *,
    seconds: float = 1800,
    group: str | None = None,
    connector_type: str | None = None,
) -> Any:
    return m.ReserveNowRequest(
        id=rid,
        expiry_date_time=NOW2 + timedelta(seconds=seconds),
        id_token=m.IdToken(id_token=token, type="ISO14443"),
        evse_id=UNSET if evse is None else evse,
        group_id_token=UNSET if group is None else m.IdToken(id_token=group, type="Central"),
        connector_type=UNSET if connector_type is None else connector_type,
    )


def reported(csms: t2.Csms, evse: int, status: str) -> int:
    return sum(
        1
        for r in csms.of("StatusNotification")
        if r.evse_id == evse and t2.wire(r.connector_status) == status
    )


async def reported_as(csms: t2.Csms, evse: int, status: str, count: int = 1) -> None:
    await csms.wait(
        "StatusNotification",
        count,
        lambda r: r.evse_id == evse and t2.wire(r.connector_status) == status,
    )


def test_h01_h03_reserved_evse_takes_only_its_token(core: Backend, v2x: str) -> None:
    """P6 reusable state Reserved / H01.FR.23: ReserveNow for an Available EVSE: Accepted and a
    StatusNotification Reserved for its connector; H03: another idToken may not charge there
    (G03.FR.09: the EV plugged in leaves it Reserved), the reserved one may: H03.FR.09 the
    reservation is used, and the TransactionEvent that reports the authorization carries its
    reservationId; no ReservationStatusUpdate for a used reservation."""

    async def main() -> None:
        async with booted(core, v2x, Csms2()) as (station, csms, connection, m):
            answer = await connection.call(reserve2(m, 5, "OWNER", evse=1))
            assert t2.wire(answer.status) == "Accepted"
            await reported_as(csms, 1, "Reserved")
            assert station.connector_status(2) == "Available"
            await station.plug_in(1)
            assert station.connector_status(1) == "Reserved"  # G03.FR.09
            with pytest.raises(StationError, match="reserved for another id token"):
                await station.present_id_token(1, "OTHER")
            transaction = await station.start_transaction(1, "OWNER")
            events = await csms.wait("TransactionEvent", where=lambda e: e.id_token is not UNSET)
            assert events[0].reservation_id == 5
            assert events[0].transaction_info.transaction_id == transaction
            assert station.connector_status(1) == "Occupied"
            later = [e for e in csms.of("TransactionEvent") if e is not events[0]]
            assert all(e.reservation_id is UNSET for e in later)
            assert not csms.of("ReservationStatusUpdate")
            cancel = await connection.call(m.CancelReservationRequest(reservation_id=5))
            assert t2.wire(cancel.status) == "Rejected"

    t2.run(main())


def test_h01_reserve_now_statuses(core: Backend, v2x: str) -> None:
    """H01 (ReserveNowStatusEnumType): Occupied for an EVSE in use or reserved by another
    reservation, Unavailable for an Inoperative one (G03), Rejected for an unknown EVSE
    (UnknownEvse), a connectorType the EVSE does not have, an expiryDateTime already past and
    while ReservationCtrlr.Enabled is false (NotEnabled); the same id replaces the
    reservation: the EVSE it held is Available again."""

    async def main() -> None:
        async with booted(core, v2x, Csms2()) as (station, csms, connection, m):

            async def status(request: Any) -> tuple[str, str | None]:
                answer = await connection.call(request)
                info = answer.status_info
                return t2.wire(answer.status), None if info is UNSET else info.reason_code

            assert await status(reserve2(m, 1, "A", 1)) == ("Accepted", None)
            assert await status(reserve2(m, 2, "B", 1)) == ("Occupied", None)
            await station.plug_in(2)
            assert await status(reserve2(m, 2, "B", 2)) == ("Occupied", None)
            await station.unplug(2)
            assert await status(reserve2(m, 2, "B", 3)) == ("Rejected", "UnknownEvse")
            cable = reserve2(m, 2, "B", 2, connector_type="cCCS2")
            assert await status(cable) == ("Rejected", "InvalidValue")
            assert await status(reserve2(m, 2, "B", 2, seconds=-5)) == ("Rejected", "InvalidValue")
            off = m.ChangeAvailabilityRequest(operational_status="Inoperative", evse=m.EVSE(id=2))
            await connection.call(off)
            assert await status(reserve2(m, 2, "B", 2)) == ("Unavailable", None)
            on_ = m.ChangeAvailabilityRequest(operational_status="Operative", evse=m.EVSE(id=2))
            await connection.call(on_)
            assert await status(reserve2(m, 1, "A", 2)) == ("Accepted", None)  # moved
            await reported_as(csms, 1, "Available", count=2)
            assert station.connector_status(2) == "Reserved"
            disabled = t2.put(m, "ReservationCtrlr", "Enabled", "false")
            assert await t2.set_variables(connection, disabled) == ["Accepted"]
            assert await status(reserve2(m, 3, "C", 1)) == ("Rejected", "NotEnabled")

    t2.run(main())


def test_h02_cancel_reservation(core: Backend, v2x: str) -> None:
    """H02: CancelReservation of a reservation the station has: Accepted, the EVSE Available
    again (StatusNotification), no ReservationStatusUpdate; of one it has not: Rejected."""

    async def main() -> None:
        async with booted(core, v2x, Csms2()) as (_station, csms, connection, m):
            await connection.call(reserve2(m, 12, "TAG", 2))
            await reported_as(csms, 2, "Reserved")
            cancel = await connection.call(m.CancelReservationRequest(reservation_id=12))
            assert t2.wire(cancel.status) == "Accepted"
            await reported_as(csms, 2, "Available", count=2)
            again = await connection.call(m.CancelReservationRequest(reservation_id=12))
            assert t2.wire(again.status) == "Rejected"
            assert not csms.of("ReservationStatusUpdate")

    t2.run(main())


def test_h04_expired_reservation_status_update(core: Backend, v2x: str) -> None:
    """H04: at expiryDateTime (the station's clock) the reservation ends:
    ReservationStatusUpdate Expired with its id, and the EVSE is Available again."""

    async def main() -> None:
        async with booted(core, v2x, Csms2()) as (station, csms, connection, m):
            await connection.call(reserve2(m, 13, "TAG", 1, seconds=1))
            await reported_as(csms, 1, "Reserved")
            t2.clock_of(station).advance(1)
            (update,) = await csms.wait("ReservationStatusUpdate")
            assert update.reservation_id == 13
            assert t2.wire(update.reservation_update_status) == "Expired"
            await reported_as(csms, 1, "Available", count=2)

    t2.run(main())


def test_h01_fr_20_reservations_of_any_evse_keep_evses_free(core: Backend, v2x: str) -> None:
    """H01.FR.04 / H01.FR.20 (ReservationCtrlr.NonEvseSpecific): reservations without evseId
    each keep an EVSE free; when the free EVSEs are as many as those reservations they are all
    Reserved; one more is Occupied; another idToken may not take the last ones; the reserved
    idToken uses its reservation at any EVSE (H03.FR.09), its reservationId in the
    TransactionEvent. H01.FR.06 / H01.FR.24: with connectorType, only EVSEs of that type count
    (this station's connectors are sType2). NonEvseSpecific false: Rejected."""

    async def main() -> None:
        async with booted(core, v2x, Csms2()) as (station, csms, connection, m):

            async def status(request: Any) -> str:
                return t2.wire((await connection.call(request)).status)

            assert await status(reserve2(m, 21, "ANY-1", connector_type="sType2")) == "Accepted"
            assert station.connector_status(1) == station.connector_status(2) == "Available"
            assert await status(reserve2(m, 22, "ANY-2")) == "Accepted"
            await reported_as(csms, 1, "Reserved")
            await reported_as(csms, 2, "Reserved")
            assert await status(reserve2(m, 23, "ANY-3")) == "Occupied"
            assert await status(reserve2(m, 23, "ANY-3", 1)) == "Occupied"
            assert await status(reserve2(m, 23, "ANY-3", connector_type="cCCS2")) == "Rejected"
            with pytest.raises(StationError, match="reservation of any"):
                await station.present_id_token(2, "OTHER")
            await station.start_transaction(2, "ANY-2")
            (event,) = await csms.wait("TransactionEvent", where=lambda e: e.id_token is not UNSET)
            assert event.reservation_id == 22
            assert station.connector_status(1) == "Reserved"  # the last free one, for ANY-1
            off = t2.put(m, "ReservationCtrlr", "NonEvseSpecific", "false")
            assert await t2.set_variables(connection, off) == ["Accepted"]
            assert await status(reserve2(m, 24, "ANY-4")) == "Rejected"

    t2.run(main())


def test_h03_group_id_token_uses_the_reservation(core: Backend, v2x: str) -> None:
    """H03 with H03.FR.07 / H03.FR.08 (E201 2.8.3): a reservation with a groupIdToken is used by
    an idToken whose groupIdToken (the one the AuthorizeResponse gives) matches it."""

    async def main() -> None:
        csms = Csms2(groups={"MEMBER": "FLEET", "OUTSIDER": "OTHER-FLEET"})
        async with booted(core, v2x, csms) as (station, csms, connection, m):
            await connection.call(reserve2(m, 31, "OWNER", 1, group="FLEET"))
            with pytest.raises(StationError, match="reserved"):
                await station.present_id_token(1, "OUTSIDER")
            await station.start_transaction(1, "MEMBER")
            (event,) = await csms.wait("TransactionEvent", where=lambda e: e.id_token is not UNSET)
            assert (event.id_token.id_token, event.reservation_id) == ("MEMBER", 31)

    t2.run(main())


def test_h04_unavailable_evse_removes_the_reservation(core: Backend, v2x: str) -> None:
    """H04: a reservation whose EVSE becomes Unavailable (ChangeAvailability Inoperative, G03)
    ends: ReservationStatusUpdate Removed; the EVSE reports Unavailable."""

    async def main() -> None:
        async with booted(core, v2x, Csms2()) as (_station, csms, connection, m):
            await connection.call(reserve2(m, 41, "TAG", 1))
            off = m.ChangeAvailabilityRequest(operational_status="Inoperative", evse=m.EVSE(id=1))
            await connection.call(off)
            (update,) = await csms.wait("ReservationStatusUpdate")
            assert (update.reservation_id, t2.wire(update.reservation_update_status)) == (
                41,
                "Removed",
            )
            await reported_as(csms, 1, "Unavailable")

    t2.run(main())


def test_h03_request_start_on_a_reserved_evse(core: Backend, v2x: str) -> None:
    """F01 with H03: RequestStartTransaction of another idToken on the reserved EVSE is
    Rejected, and without evseId the station does not choose it; the reserved idToken is
    Accepted, and its TransactionEvent (RemoteStart) carries the reservationId."""

    async def main() -> None:
        async with booted(core, v2x, Csms2()) as (_station, csms, connection, m):
            await connection.call(reserve2(m, 51, "OWNER", 1))
            refused = await t2.remote_start(connection, "OTHER", evse=1, remote_id=1)
            assert t2.wire(refused.status) == "Rejected"
            anywhere = await t2.remote_start(connection, "OTHER", evse=None, remote_id=2)
            assert t2.wire(anywhere.status) == "Accepted"
            accepted = await t2.remote_start(connection, "OWNER", evse=None, remote_id=3)
            assert t2.wire(accepted.status) == "Accepted"
            events = await csms.wait("TransactionEvent", 2, where=lambda e: e.id_token is not UNSET)
            by_token = {e.id_token.id_token: e for e in events}
            assert by_token["OWNER"].evse.id == 1 and by_token["OWNER"].reservation_id == 51
            assert by_token["OTHER"].evse.id == 2 and by_token["OTHER"].reservation_id is UNSET

    t2.run(main())


def test_h01_reservation_ctrlr_variables(core: Backend, v2x: str) -> None:
    """A201 3.1.13 ReservationCtrlr: Available true, Enabled and NonEvseSpecific true and
    writable."""

    async def main() -> None:
        async with booted(core, v2x, Csms2()) as (station, _csms, connection, m):
            response = await connection.call(
                m.GetVariablesRequest(
                    get_variable_data=[
                        t2.get(m, "ReservationCtrlr", name)
                        for name in ("Available", "Enabled", "NonEvseSpecific")
                    ]
                )
            )
            results = response.get_variable_result
            assert [(t2.wire(r.attribute_status), r.attribute_value) for r in results] == [
                ("Accepted", "true")
            ] * 3
            assert station.device_model.find("ReservationCtrlr", "Enabled") is not None

    t2.run(main())


def test_h04_reservation_survives_a_restart_and_expires_offline(
    core: Backend, v2x: str, tmp_path: Path
) -> None:
    """The reservation is in the station's data file: after a restart the EVSE boots Reserved;
    expired while offline, its ReservationStatusUpdate Expired is queued and delivered on the
    next connection (H04)."""
    path = tmp_path / "station.sqlite3"

    async def main() -> None:
        clock = t2.Clock()
        store = await StationStore.open(path)
        data = await store.load("CP1")
        station = make_station(v2x, data=data, clock=clock)
        csms = Csms2()
        async with connect(core, station, csms, v2x) as connection:
            await ready(station, csms)
            m = t2.MODULES[v2x]
            answer = await connection.call(reserve2(m, 61, "TAG", 2, seconds=1))
            assert t2.wire(answer.status) == "Accepted"
        await station.shutdown()
        await store.close()

        store = await StationStore.open(path)
        data = await store.load("CP1")
        station = make_station(v2x, data=data, clock=clock)
        csms = Csms2()
        async with connect(core, station, csms, v2x):
            await ready(station, csms)
            assert reported(csms, 2, "Reserved") == 1
        clock.advance(1)  # offline now; the timer reads the clock again within 1 s
        await asyncio.wait_for(_queued(station.data, "ReservationStatusUpdate"), t2.WAIT)
        csms = Csms2()
        async with connect(core, station, csms, v2x):
            (update,) = await csms.wait("ReservationStatusUpdate")
            assert (update.reservation_id, t2.wire(update.reservation_update_status)) == (
                61,
                "Expired",
            )
            await reported_as(csms, 2, "Available")
        await station.shutdown()
        await store.close()

    t2.run(main())


async def _queued(data: StationData, action: str) -> None:
    while not any(item.action == action for item in data.queue):
        await asyncio.sleep(0.05)


# ------------------------------------------------------------------------------------------
# Interoperability: the `ocpp` package's central system and `ocppfast station`


async def drive_reservations(cs: CentralSystem, version: str) -> None:
    """Reserve, cancel, reserve again; only the reserved token starts on the reserved
    connector / EVSE, and its start carries the reservationId."""
    call = PACKAGES[version].call
    expiry = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    await cs.wait_for("BootNotification")
    cp = cs.charge_point
    mark = len(cs.received)
    if version == "ocpp1.6":
        await cs.wait_for("StatusNotification", connector_id=1, status="Available")
        reserve = call.ReserveNow(
            connector_id=1, expiry_date=expiry, id_tag="OWNER", reservation_id=7
        )
        assert (await cp.call(reserve)).status == "Accepted"
        await cs.wait_for("StatusNotification", start=mark, connector_id=1, status="Reserved")
        assert (await cp.call(call.CancelReservation(reservation_id=7))).status == "Accepted"
        await cs.wait_for("StatusNotification", start=mark, connector_id=1, status="Available")
        assert (await cp.call(call.CancelReservation(reservation_id=7))).status == "Rejected"
        assert (await cp.call(reserve)).status == "Accepted"
        other = await cp.call(call.RemoteStartTransaction(id_tag="OTHER", connector_id=1))
        assert other.status == "Rejected"
        mine = await cp.call(call.RemoteStartTransaction(id_tag="OWNER", connector_id=1))
        assert mine.status == "Accepted"
        start = await cs.wait_for("StartTransaction", start=mark)
        assert (start["id_tag"], start["connector_id"], start["reservation_id"]) == (
            "OWNER",
            1,
            7,
        )
    else:
        await cs.wait_for("StatusNotification", connector_status="Available")
        token = {"id_token": "OWNER", "type": "ISO14443"}
        reserve = call.ReserveNow(id=7, expiry_date_time=expiry, id_token=token, evse_id=1)
        assert (await cp.call(reserve)).status == "Accepted"
        await cs.wait_for("StatusNotification", start=mark, evse_id=1, connector_status="Reserved")
        assert (await cp.call(call.CancelReservation(reservation_id=7))).status == "Accepted"
        await cs.wait_for("StatusNotification", start=mark, evse_id=1, connector_status="Available")
        assert (await cp.call(call.CancelReservation(reservation_id=7))).status == "Rejected"
        assert (await cp.call(reserve)).status == "Accepted"
        other = await cp.call(
            call.RequestStartTransaction(
                id_token={"id_token": "OTHER", "type": "ISO14443"}, remote_start_id=1, evse_id=1
            )
        )
        assert other.status == "Rejected"
        mine = await cp.call(
            call.RequestStartTransaction(id_token=token, remote_start_id=2, evse_id=1)
        )
        assert mine.status == "Accepted"
        event = await cs.wait_for("TransactionEvent", start=mark, where=lambda p: "id_token" in p)
        assert event["id_token"]["id_token"] == "OWNER"
        assert event["reservation_id"] == 7 and event["evse"]["id"] == 1


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_interop_ocpp_central_system_reserves_and_cancels(core: Backend, version: str) -> None:
    """Against the `ocpp` package's central system over a real socket (`ocppfast station`, a
    real process): ReserveNow Accepted and the connector Reserved, CancelReservation Accepted
    then Rejected (C16 5.1, 5.13; H01, H02); on the reserved connector a remote start of
    another token is Rejected and the reserved token's start carries the reservationId (C16
    4.8; H03)."""
    processes: list[CliProcess] = []

    async def main() -> None:
        async with CentralSystem(version) as cs:
            processes.append(CliProcess(core, *station_args(cs, "CP-reserve", version)))
            await asyncio.wait_for(cs.connected.wait(), 15)
            await drive_reservations(cs, version)
            assert await asyncio.to_thread(processes[0].stop) == 0, processes[0].log

    try:
        run(main(), 90)
    except BaseException:
        for process in processes:
            process.__exit__()
            print(process.log)
        raise
    assert processes[0].count(r"Traceback|InternalError") == 0, processes[0].log
