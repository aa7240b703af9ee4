"""The OCPP 1.6 station across restarts, power cuts and lost connections: what it keeps in its
`StationData` (a real `StationStore` file here), its queue of transaction-related messages (C16
3.7, 3.7.1, C16E 3.18), offline authorization (C16 3.5) and the Local Authorization List (C16
5.10, 5.15). Built on the loopback test Central System of test_station_v16.py, on both core
backends."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ocppfast import v16
from ocppfast._core import Backend
from ocppfast.asyncio import on
from ocppfast.station.store import StationStore
from ocppfast.station.v16 import Station16, StationError
from tests.aio import run, until
from tests.test_station_v16 import NOW, Clock, Csms, Link, change, make_station, statuses

SECRET = "0123456789abcdef0123456789abcdef"
_PLACEHOLDER = "StartTransaction#"


def local_list(
    version: int, update: str, entries: Mapping[str, v16.IdTagInfo | None]
) -> v16.SendLocalListRequest:
    return v16.SendLocalListRequest(
        list_version=version,
        update_type=v16.UpdateType(update),
        local_authorization_list=[
            v16.AuthorizationData(id_tag=tag)
            if info is None
            else v16.AuthorizationData(id_tag=tag, id_tag_info=info)
            for tag, info in entries.items()
        ],
    )


def tag_info(status: str, **fields: Any) -> v16.IdTagInfo:
    return v16.IdTagInfo(status=v16.AuthorizationStatus(status), **fields)


async def send_list(link: Link, request: v16.SendLocalListRequest) -> str:
    return str((await link.call(request)).status.value)


async def list_version(link: Link) -> int:
    return int((await link.call(v16.GetLocalListVersionRequest())).list_version)


def queued(station: Station16) -> list[tuple[str, Any]]:
    """(action, transactionId) of each message in the station's queue."""
    return [(item.action, item.decoded().get("transactionId")) for item in station.data.queue]


def after_boot(csms: Csms) -> list[tuple[str, Any]]:
    """(action, transactionId) of what the station sent after its boot and status reports (and
    the security events of the boot: tests/test_security_events.py)."""
    skipped = ("BootNotification", "StatusNotification", "Heartbeat", "SecurityEventNotification")
    return [
        (action, getattr(request, "transaction_id", None))
        for action, request in csms.messages
        if action not in skipped
    ]


# -- what survives a restart -----------------------------------------------------------------


def test_configuration_cache_list_and_availability_survive_a_restart(
    core: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What the Central System set survives a restart: configuration keys (C16 5.3), the
    Authorization Cache (C16 3.5.1, C16E 3.4: across reboots, resets and power outages), the
    Local Authorization List and its version (C16 3.5.2, 5.10) and an Unavailable connector
    (C16 5.2: "shall persist a reboot"). A new Station16 built from a fresh load of the same
    file has them all; the AuthorizationKey is kept but never read back over OCPP nor logged
    (SW 7.2)."""
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        path = tmp_path / "station.sqlite3"
        store = await StationStore.open(path)
        first = make_station(data=await store.load("CP1"))
        link = Link(core, first, Csms())
        await link.booted()
        assert await change(link, "MeterValueSampleInterval", "30") == "Accepted"
        assert await change(link, "localpreauthorize", "true") == "Accepted"
        assert await change(link, "AuthorizationKey", SECRET) == "Accepted"
        assert await first.authorize("TAG1")  # Authorize.conf Accepted: cached
        entries = {"LIST1": tag_info("Accepted"), "LIST2": tag_info("Blocked")}
        assert await send_list(link, local_list(7, "Full", entries)) == "Accepted"
        answer = await link.call(
            v16.ChangeAvailabilityRequest(connector_id=2, type=v16.AvailabilityType.Inoperative)
        )
        assert answer.status == "Accepted"
        await link.close()
        await store.close()

        store = await StationStore.open(path)
        second = make_station(data=await store.load("CP1"))
        assert second.get_configuration("MeterValueSampleInterval") == "30"
        assert second.get_configuration("LocalPreAuthorize") == "true"
        assert second.authorization_key == SECRET
        assert second.get_configuration("AuthorizationKey") is None
        assert second.connector_status(2) == "Unavailable"
        csms = Csms()
        link = Link(core, second, csms)
        await link.booted()
        assert statuses(csms, 2) == ["Unavailable"]
        everything = await link.call(v16.GetConfigurationRequest())
        keys = {k.key: k.value for k in everything.configuration_key}
        assert keys["AuthorizationKey"] is msgspec.UNSET
        assert SECRET not in {str(value) for value in keys.values()}
        assert keys["MeterValueSampleInterval"] == "30"
        assert await list_version(link) == 7
        # From the cache and the list, without Authorize.req (LocalPreAuthorize, C16 3.5).
        assert await second.authorize("tag1")  # an IdToken is case-insensitive (C16 7.28)
        assert await second.authorize("LIST1")
        assert csms.of("Authorize") == []
        await link.close()
        await store.close()

    run(main())
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_answers_acknowledge_only_what_is_on_disk(core: Backend, tmp_path: Path) -> None:
    """The answer to ChangeConfiguration (C16 5.3), ChangeAvailability (C16 5.2) and
    SendLocalList (C16 5.15) leaves only once the change is committed: a power cut right after
    the Central System read it loses nothing (`Handlers.write_barrier`). Read here from the
    file by a second store, without flushing the station's."""

    async def main() -> None:
        path = tmp_path / "station.sqlite3"
        store = await StationStore.open(path)
        station = make_station(data=await store.load("CP1"))
        link = Link(core, station, Csms())
        await link.booted()
        reader = await StationStore.open(path, lock=False)
        assert await change(link, "HeartbeatInterval", "123") == "Accepted"
        assert (await reader.load("CP1")).settings["HeartbeatInterval"] == "123"
        await link.call(
            v16.ChangeAvailabilityRequest(connector_id=1, type=v16.AvailabilityType.Inoperative)
        )
        assert (await reader.load("CP1")).state["connector.1"]["operative"] is False
        entries = {"TAG1": tag_info("Accepted")}
        assert await send_list(link, local_list(2, "Full", entries)) == "Accepted"
        kept = await reader.load("CP1")
        assert (set(kept.tokens["local"]), kept.state["local_list_version"]) == ({"tag1"}, 2)
        await reader.close()
        await link.close()
        await store.close()

    run(main())


def test_unknown_or_invalid_stored_settings_are_ignored(
    core: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad data never stops a station: a stored key it does not know, a read-only one or a value
    its type refuses (C16 9) is ignored with a log line, the default stays."""

    async def main() -> None:
        store = await StationStore.open(tmp_path / "station.sqlite3")
        data = await store.load("CP1")
        await data.set_setting("NoSuchKey", "1")
        await data.set_setting("NumberOfConnectors", "9")
        await data.set_setting("HeartbeatInterval", "soon")
        await data.set_state("connector.1", {"operative": "not a boolean"})
        station = make_station(data=data)
        assert station.get_configuration("NumberOfConnectors") == "2"
        assert station.heartbeat_interval == 60
        assert station.connector_status(1) == "Available"
        await store.close()

    run(main())
    logged = caplog.text
    assert "NoSuchKey ignored" in logged
    assert "NumberOfConnectors ignored" in logged
    assert "HeartbeatInterval ignored" in logged
    assert "connector.1 ignored" in logged


# -- the queue of transaction-related messages -----------------------------------------------


class HoldingCsms(Csms):
    """Holds its answer to MeterValues until `release` is set."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    @on(v16.MeterValuesRequest)
    async def held_meter_values(self, request: v16.MeterValuesRequest) -> v16.MeterValuesResponse:
        self._record(request)
        self.holding.set()
        await self.release.wait()
        return v16.MeterValuesResponse()


def test_offline_transaction_is_queued_in_order_with_a_placeholder_id(
    core: Backend, tmp_path: Path
) -> None:
    """C16 3.7: offline, every transaction-related message is queued (on disk), then delivered
    in order after the BootNotification (C16 4.2) and the StatusNotifications (C16E 3.22).
    Until StartTransaction.conf gives the transactionId, the transaction's later messages hold a
    placeholder; the id replaces it in the queue, on disk too, before they are sent."""

    async def main() -> None:
        path = tmp_path / "station.sqlite3"
        store = await StationStore.open(path)
        clock = Clock()
        station = make_station(clock, data=await store.load("CP1"), meter_interval=3600)
        assert station.change_configuration("AllowOfflineTxForUnknownId", "true") == "Accepted"
        assert await station.start_transaction(1, "TAG1") == ""  # no id while offline
        assert station.transactions[1].transaction_id is None
        assert station.connector_status(1) == "Charging"
        clock.advance(minutes=30)
        await station.sample_now(1)
        clock.advance(minutes=30)
        await station.sample_now(1)
        await station.stop_transaction(1)
        placeholder = station.data.queue[0].seq
        assert queued(station) == [
            ("StartTransaction", None),
            ("MeterValues", f"{_PLACEHOLDER}{placeholder}"),
            ("MeterValues", f"{_PLACEHOLDER}{placeholder}"),
            ("StopTransaction", f"{_PLACEHOLDER}{placeholder}"),
        ]
        with pytest.raises(StationError, match="no transaction"):
            await station.sample_now(1)

        csms = HoldingCsms()
        link = Link(core, station, csms)
        await csms.holding.wait()  # the first MeterValues is out, its answer held
        assert [action for action, _ in csms.messages][:5] == [
            "BootNotification",
            "StatusNotification",
            "StatusNotification",
            "StatusNotification",
            "StartTransaction",
        ]
        assert queued(station) == [
            ("MeterValues", 1001),
            ("MeterValues", 1001),
            ("StopTransaction", 1001),
        ]
        await station.data.flush()
        on_disk = await StationStore.open(path, lock=False)
        kept = await on_disk.load("CP1")
        assert [item.decoded()["transactionId"] for item in kept.queue] == [1001, 1001, 1001]
        await on_disk.close()
        csms.release.set()
        await csms.wait_for("StopTransaction")
        sent = after_boot(csms)
        assert sent == [
            ("StartTransaction", None),
            ("MeterValues", 1001),
            ("MeterValues", 1001),
            ("StopTransaction", 1001),
        ]
        start, stop = csms.of("StartTransaction")[0], csms.of("StopTransaction")[0]
        assert (start.timestamp, start.meter_start, start.id_tag) == (NOW, 0, "TAG1")
        assert [m.meter_value[0].timestamp for m in csms.of("MeterValues")] == [
            NOW + timedelta(minutes=30),
            NOW + timedelta(minutes=60),
        ]
        assert (stop.meter_stop, stop.timestamp) == (11000, NOW + timedelta(minutes=60))
        await until(lambda: not station.data.queue)
        await link.close()
        await store.close()

    run(main())


def test_new_transaction_messages_wait_for_the_queue(core: Backend) -> None:
    """C16 3.7: "The delivery of new transaction-related messages SHALL wait until the queue
    has been emptied": a transaction started while a MeterValues.req waits for its retry (C16
    3.7.1) starts after it; a message that is not transaction-related (Authorize) MAY go at
    once, before the queue is emptied."""

    async def main() -> None:
        station = make_station(meter_interval=3600)
        csms = Csms(errors={"MeterValues": 1})
        link = Link(core, station, csms)
        await link.booted()
        assert await change(link, "TransactionMessageRetryInterval", "1") == "Accepted"
        await station.start_transaction(1, "TAG1", authorize=False)
        await station.sample_now(1)
        await csms.wait_for("MeterValues")  # refused: retried in 1 s
        starting = asyncio.create_task(station.start_transaction(2, "TAG2", authorize=False))
        assert await station.authorize("TAG2")
        assert await starting == "1002"
        assert after_boot(csms) == [
            ("StartTransaction", None),
            ("MeterValues", 1001),
            ("Authorize", None),
            ("MeterValues", 1001),
            ("StartTransaction", None),
        ]
        await link.close()

    run(main())


def test_discarded_start_transaction_gives_id_minus_one(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """C16 3.7.1: a message the Central System fails to process is sent again after
    TransactionMessageRetryInterval x the transmissions so far, TransactionMessageAttempts
    times in all, then discarded with an error in the log; C16E 3.18: a StartTransaction.req
    given up leaves its transaction without an id, so its later messages carry
    transactionId -1."""

    async def main() -> None:
        station = make_station(meter_interval=3600)
        csms = Csms(errors={"StartTransaction": 2, "MeterValues": 1})
        link = Link(core, station, csms)
        await link.booted()
        assert await change(link, "TransactionMessageAttempts", "2") == "Accepted"
        assert await change(link, "TransactionMessageRetryInterval", "1") == "Accepted"
        assert await station.start_transaction(1, "TAG1", authorize=False) == "-1"
        assert len(csms.of("StartTransaction")) == 2
        assert station.transactions[1].transaction_id == -1
        await station.sample_now(1)  # fails once, delivered at the second attempt
        await station.stop_transaction(1)
        assert after_boot(csms)[2:] == [
            ("MeterValues", -1),
            ("MeterValues", -1),
            ("StopTransaction", -1),
        ]
        assert station.data.queue == []
        await link.close()

    run(main())
    discarded = [r for r in caplog.records if "discarded" in r.getMessage()]
    assert len(discarded) == 1
    assert discarded[0].levelno == logging.ERROR
    assert "StartTransaction" in discarded[0].getMessage()


class SilentCsms(Csms):
    """Does not answer the first StopTransaction.req (a timeout for the station); or, with
    `hang_up`, closes the connection when it comes."""

    def __init__(self, *, hang_up: bool = False, **options: Any) -> None:
        super().__init__(**options)
        self.hang_up = hang_up
        self.silent = 1

    @on(v16.StopTransactionRequest)
    async def silent_stop_transaction(
        self, request: v16.StopTransactionRequest
    ) -> v16.StopTransactionResponse:
        self._record(request)
        if self.silent:
            self.silent -= 1
            if self.hang_up:
                asyncio.get_running_loop().create_task(self.connection.close(1001, "going away"))
            await asyncio.get_running_loop().create_future()  # never answered
        return v16.StopTransactionResponse()


def test_unanswered_transaction_message_is_a_failed_attempt(core: Backend) -> None:
    """C16 3.7.1 (J16 4.1.1, J16E 3.2): no answer within MessageTimeout is a failure to process:
    the StopTransaction.req is sent again after TransactionMessageRetryInterval."""

    async def main() -> None:
        station = make_station(meter_interval=3600)
        csms = SilentCsms()
        link = Link(core, station, csms)
        await link.booted()
        assert await change(link, "MessageTimeout", "1") == "Accepted"
        assert await change(link, "TransactionMessageRetryInterval", "1") == "Accepted"
        await station.start_transaction(1, "TAG1", authorize=False)
        await station.stop_transaction(1)
        assert [r.transaction_id for r in csms.of("StopTransaction")] == [1001, 1001]
        assert station.data.queue == []
        await link.close()

    run(main())


def test_lost_connection_is_not_a_failed_attempt(core: Backend) -> None:
    """C16 3.7: a connection lost before the answer is no failure to process (C16 3.7.1): the
    StopTransaction.req stays queued, attempts untouched, and goes on the next connection."""

    async def main() -> None:
        station = make_station(meter_interval=3600)
        first = Link(core, station, SilentCsms(hang_up=True))
        await first.booted()
        assert await change(first, "TransactionMessageAttempts", "1") == "Accepted"
        await station.start_transaction(1, "TAG1", authorize=False)
        await station.stop_transaction(1)
        await first.closed()
        ((action, transaction_id),) = queued(station)
        assert (action, transaction_id) == ("StopTransaction", 1001)
        assert station.data.queue[0].attempts == 0
        second = Link(core, station, Csms())
        (stop,) = await second.csms.wait_for("StopTransaction")
        assert stop.transaction_id == 1001
        await second.close()

    run(main())


def test_full_queue_sheds_samples_never_a_start_or_stop(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """A full queue (StationData.queue_limit) drops the oldest MeterValues of a transaction
    (SHED_LATER) with a warning each, never a StartTransaction or StopTransaction (NEVER_SHED),
    which are kept even beyond the limit."""
    caplog.set_level(logging.WARNING)

    async def main() -> None:
        clock = Clock()
        station = make_station(clock, meter_interval=3600)
        station.data.queue_limit = 4
        station.change_configuration("AllowOfflineTxForUnknownId", "true")
        await station.start_transaction(1, "TAG1")
        for _ in range(5):
            clock.advance(minutes=10)
            await station.sample_now(1)
        await station.stop_transaction(1)
        actions = [action for action, _ in queued(station)]
        assert actions == ["StartTransaction", "MeterValues", "MeterValues", "StopTransaction"]
        # The two newest samples are left (40 and 50 minutes at 11 kW).
        registers = [
            item.decoded()["meterValue"][0]["sampledValue"][0]["value"]
            for item in station.data.queue[1:3]
        ]
        assert registers == ["7333", "9167"]
        # Below what it holds of starts and stops: the samples go, the rest stays.
        station.data.queue_limit = 2
        await station.start_transaction(2, "TAG2")
        await station.stop_transaction(2)
        starts_and_stops = ["StartTransaction", "StopTransaction"] * 2
        assert [action for action, _ in queued(station)] == starts_and_stops
        link = Link(core, station, Csms())
        await link.csms.wait_for("StopTransaction", count=2)
        assert [action for action, _ in after_boot(link.csms)] == starts_and_stops
        await link.close()

    run(main())
    shed = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(shed) == 5
    assert all("MeterValues" in r.getMessage() for r in shed)


# -- offline authorization (C16 3.5) ---------------------------------------------------------


def test_offline_start_with_local_authorize_offline_and_unknown_ids(core: Backend) -> None:
    """C16 3.5, 9.1.12: offline, an id tag the cache holds as valid starts a transaction only
    with LocalAuthorizeOffline; one it holds as not valid (Blocked) is refused (C16 3.5.4);
    an unknown one starts only with AllowOfflineTxForUnknownId (C16 9.1.1). Back online, the
    StartTransaction.req of each goes in order."""

    async def main() -> None:
        station = make_station(meter_interval=3600)
        csms = Csms()
        link = Link(core, station, csms)
        await link.booted()
        assert await station.authorize("GOOD")
        csms.authorize_status = "Blocked"
        assert not await station.authorize("BAD")
        await link.close()

        with pytest.raises(StationError, match="LocalAuthorizeOffline is false"):
            await station.start_transaction(1, "GOOD")
        assert station.change_configuration("LocalAuthorizeOffline", "true") == "Accepted"
        assert await station.start_transaction(1, "GOOD") == ""
        assert station.change_configuration("AllowOfflineTxForUnknownId", "true") == "Accepted"
        with pytest.raises(StationError, match="not authorized"):
            await station.start_transaction(2, "BAD")
        assert station.connector_status(2) == "Available"
        assert station.change_configuration("AllowOfflineTxForUnknownId", "false") == "Accepted"
        with pytest.raises(StationError, match="unknown id tag"):
            await station.start_transaction(2, "STRANGER")
        assert station.change_configuration("AllowOfflineTxForUnknownId", "true") == "Accepted"
        assert await station.start_transaction(2, "STRANGER") == ""

        again = Link(core, station, Csms())
        starts = await again.csms.wait_for("StartTransaction", count=2)
        assert [(s.connector_id, s.id_tag) for s in starts] == [(1, "GOOD"), (2, "STRANGER")]
        assert again.csms.of("Authorize") == []
        await until(lambda: station.transactions[2].transaction_id is not None)
        assert {c: tx.transaction_id for c, tx in station.transactions.items()} == {
            1: 1001,
            2: 1002,
        }
        await again.close()

    run(main())


def test_stop_transaction_on_invalid_id_after_an_offline_start(core: Backend) -> None:
    """C16 3.5.4, C16E 3.17: the StartTransaction.conf of a transaction authorized offline
    refuses the id tag while it still runs: with StopTransactionOnInvalidId true it stops with
    reason DeAuthorized (the cable kept locked); false, only the energy stops
    (SuspendedEVSE)."""

    async def main() -> None:
        station = make_station(meter_interval=3600)
        station.change_configuration("AllowOfflineTxForUnknownId", "true")
        await station.start_transaction(1, "TAG1")
        first = Link(core, station, Csms(start="Invalid"))
        (stop,) = await first.csms.wait_for("StopTransaction")
        assert (stop.transaction_id, stop.reason) == (1001, "DeAuthorized")
        await first.csms.wait_for("StatusNotification", lambda r: r.status == "Finishing")
        assert station.transactions == {}
        await first.close()

        station.change_configuration("StopTransactionOnInvalidId", "false")
        await station.start_transaction(2, "TAG2")
        second = Link(core, station, Csms(start="Invalid"))
        await second.csms.wait_for("StatusNotification", lambda r: r.status == "SuspendedEVSE")
        assert station.connector_status(2) == "SuspendedEVSE"
        assert second.csms.of("StopTransaction") == []
        await second.close()

    run(main())


# -- Local Authorization List (C16 3.5.2, 5.10, 5.15) ----------------------------------------


def test_local_list_full_and_differential_updates(core: Backend) -> None:
    """C16 5.10: GetLocalListVersion is 0 for an empty list. C16 5.15, 6.41, 7.1, 7.47: a Full
    update replaces the list; a Differential one adds and updates entries with idTagInfo and
    removes those without, and is VersionMismatch unless its version is above the current one;
    Failed for a version of 0 or -1 (C16E 3.52), duplicate id tags, a Full entry without
    idTagInfo, or more entries than SendLocalListMaxLength (C16 9.2.3); nothing changes then.
    The list authorizes (LocalPreAuthorize) without Authorize.req."""

    async def main() -> None:
        station = make_station()
        csms = Csms()
        link = Link(core, station, csms)
        await link.booted()
        assert await change(link, "LocalPreAuthorize", "true") == "Accepted"
        assert await change(link, "LocalAuthListMaxLength", "5") == "Rejected"  # R (C16 9.2.2)
        assert await change(link, "LocalAuthListEnabled", "maybe") == "Rejected"
        assert await list_version(link) == 0
        full = {"A": tag_info("Accepted"), "B": tag_info("Accepted")}
        assert await send_list(link, local_list(3, "Full", full)) == "Accepted"
        assert await list_version(link) == 3
        assert await send_list(link, local_list(3, "Differential", {})) == "VersionMismatch"
        assert await send_list(link, local_list(2, "Differential", {})) == "VersionMismatch"
        update = {"a": None, "C": tag_info("Accepted")}  # removes A (case-insensitive)
        assert await send_list(link, local_list(4, "Differential", update)) == "Accepted"
        assert await list_version(link) == 4
        for refused in (
            local_list(0, "Full", full),
            local_list(-1, "Full", full),
            local_list(9, "Full", {"X": None}),
            v16.SendLocalListRequest(
                list_version=9,
                update_type=v16.UpdateType.Full,
                local_authorization_list=[
                    v16.AuthorizationData(id_tag="D", id_tag_info=tag_info("Accepted")),
                    v16.AuthorizationData(id_tag="d", id_tag_info=tag_info("Accepted")),
                ],
            ),
            local_list(9, "Full", {f"T{i}": tag_info("Accepted") for i in range(501)}),
        ):
            assert await send_list(link, refused) == "Failed"
        assert await list_version(link) == 4
        assert await station.authorize("B")
        assert await station.authorize("C")
        assert csms.of("Authorize") == []
        assert await station.authorize("A")  # no longer listed: asked
        assert [r.id_tag for r in csms.of("Authorize")] == ["A"]
        assert await send_list(link, local_list(5, "Full", {})) == "Accepted"
        assert await list_version(link) == 0  # empty (C16 5.10)
        await link.close()

    run(main())


def test_local_list_refuses_expired_blocked_and_invalid_and_has_priority(
    core: Backend,
) -> None:
    """C16 3.5.4: offline, an entry of the Local Authorization List that is Blocked, Invalid or
    Expired, or Accepted with an expiryDate passed, is refused, whatever AllowOfflineTxForUnknownId
    says; C16 3.5.3: the list has priority over the cache, whose entries for listed id tags are
    never updated. C16 3.5.2: when the Central System's verdict differs from the list's, a
    StatusNotification for connector 0 with errorCode LocalListConflict tells it. With
    LocalAuthListEnabled false the list is not used."""

    async def main() -> None:
        clock = Clock()
        station = make_station(clock)
        csms = Csms()
        link = Link(core, station, csms)
        await link.booted()
        assert await station.authorize("BLK")  # cached as Accepted before the list came
        entries = {
            "GOOD": tag_info("Accepted", expiry_date=NOW + timedelta(days=1)),
            "OLD": tag_info("Accepted", expiry_date=NOW - timedelta(days=1)),
            "BLK": tag_info("Blocked"),
            "INV": tag_info("Invalid"),
            "EXP": tag_info("Expired"),
        }
        assert await send_list(link, local_list(1, "Full", entries)) == "Accepted"
        # Online, a listed id tag that is not valid is checked with the Central System, which
        # accepts it here: a conflict with the list.
        assert await station.authorize("BLK")
        (conflict,) = await csms.wait_for(
            "StatusNotification", lambda r: r.error_code == "LocalListConflict"
        )
        assert (conflict.connector_id, conflict.status) == (0, "Available")
        await link.close()

        station.change_configuration("LocalAuthorizeOffline", "true")
        station.change_configuration("AllowOfflineTxForUnknownId", "true")
        assert await station.authorize("GOOD")
        for refused in ("OLD", "BLK", "inv", "EXP"):
            assert not await station.authorize(refused), refused
        assert await station.authorize("UNKNOWN")
        clock.advance(days=2)  # GOOD expires with time
        assert not await station.authorize("GOOD")
        station.change_configuration("LocalAuthListEnabled", "false")
        assert await station.authorize("BLK")  # the cache's Accepted, untouched by the list
        assert await station.authorize("INV")  # unknown without the list

    run(main())


# -- power loss (C16 7.36) -------------------------------------------------------------------


def test_power_loss_ends_running_transactions_after_the_queue(
    core: Backend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A station process that dies (its store closed, its transactions never stopped) leaves
    them in its data. A Station16 built from the same file ends each with StopTransaction.req
    reason PowerLoss (C16 7.36), meterStop the last register kept (the energy after it is
    lost with the power) at the time it was read, transactionData as sampled; queued behind
    what was queued before, sent after BootNotification and the StatusNotifications (C16 4.2,
    C16E 3.22). The transaction started offline gets its id from its queued StartTransaction
    (C16 3.7, C16E 3.18)."""

    async def main() -> None:
        path = tmp_path / "station.sqlite3"
        clock = Clock()
        store = await StationStore.open(path)
        dying = make_station(clock, data=await store.load("CP1"), meter_interval=3600)
        link = Link(core, dying, Csms())
        await link.booted()
        assert await change(link, "StopTxnSampledData", "Energy.Active.Import.Register") == (
            "Accepted"
        )
        assert await dying.start_transaction(1, "TAG1", authorize=False) == "1001"
        await link.close()
        assert await dying.start_transaction(2, "TAG2", authorize=False) == ""
        clock.advance(minutes=30)
        await dying.sample_now(1)
        await dying.sample_now(2)
        clock.advance(minutes=10)  # delivered, but never read: lost with the power
        await store.close()  # the power goes

        store = await StationStore.open(path)
        station = make_station(clock, data=await store.load("CP1"), meter_interval=3600)
        assert station.transactions == {}
        csms = Csms()
        csms.transaction_ids = itertools.count(2001)
        link = Link(core, station, csms)
        await link.booted()
        stops = await csms.wait_for("StopTransaction", count=2)
        assert csms.actions()[:4] == ["BootNotification"] + ["StatusNotification"] * 3
        assert [(r.connector_id, r.status.value) for r in csms.of("StatusNotification")] == [
            (0, "Available"),
            (1, "Finishing"),
            (2, "Finishing"),
        ]
        assert after_boot(csms) == [
            ("StartTransaction", None),
            ("MeterValues", 1001),
            ("MeterValues", 2001),
            ("StopTransaction", 1001),
            ("StopTransaction", 2001),
        ]
        lost_at = NOW + timedelta(minutes=30)
        for stop in stops:
            assert (stop.reason, stop.meter_stop, stop.timestamp) == ("PowerLoss", 5500, lost_at)
            assert [
                (m.timestamp, m.sampled_value[0].context, m.sampled_value[0].value)
                for m in stop.transaction_data
            ] == [(NOW, "Transaction.Begin", "0"), (lost_at, "Sample.Periodic", "5500")]
        # The register goes on from the last reading kept.
        assert await station.start_transaction(1, "TAG3", authorize=False) == "2002"
        assert csms.of("StartTransaction")[-1].meter_start == 5500
        await link.close()
        await store.close()

    run(main())
    lost = [r for r in caplog.records if "lost power" in r.getMessage()]
    assert len(lost) == 2
