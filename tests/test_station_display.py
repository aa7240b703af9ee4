"""Display messages on the OCPP 2.0.1 / 2.1 station (`ocppfast.station.display`, wired into
`StationV2`): block O (O01 Set DisplayMessage, O02 for a transaction, O03 / O04 Get, O05 Clear,
O06 Replace) and what the display shows of a driver's session (block I: personal message,
running and final cost, fallback texts), through the simulated hardware's display.

P6 has no O or I test cases ("This section is intentionally blank"), and the 2.0.1 part 2
requirements are not available here: the tests name the use cases (P0 table of use cases) and
the fields and enumerations of the schemas they rely on. They run over the loopback test CSMS
of tests/test_station_v2.py with its injected clock, on both core backends and both versions,
and once against the `ocpp` package's central system over a real socket (interop).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocppfast._core import Backend
from ocppfast._core.message import UNSET
from ocppfast.asyncio import on
from ocppfast.hardware import DisplayedMessage, SimulatedHardware
from ocppfast.station.store import StationStore
from ocppfast.station.v2 import StationV2
from tests import aio
from tests.test_station_v2 import (
    MODULES,
    NOW,
    STATIONS,
    V2,
    Csms,
    booted,
    clock_of,
    connect,
    get,
    make_station,
    put,
    ready,
    run,
    set_variables,
)


@pytest.fixture(params=V2, name="v2")
def both_versions(request: pytest.FixtureRequest) -> str:
    """OCPP 2.0.1 and 2.1: one implementation serves both."""
    return str(request.param)


class DisplayCsms(Csms):
    """The test CSMS, which also takes NotifyDisplayMessages, and answers TransactionEvents with
    what `personal` / `total_cost` hold (a personal message, the running or final cost)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.personal: str | None = None
        self.total_cost: float | None = None

    @on("NotifyDisplayMessages", versions=V2)
    def notify_display_messages(self, request: Any) -> Any:
        self._got(request)
        return self.m.NotifyDisplayMessagesResponse()

    @on("TransactionEvent", versions=V2)
    async def transaction_event(self, request: Any) -> Any:
        response = await super().transaction_event(request)
        if self.personal is not None:
            response.updated_personal_message = self.m.MessageContent(
                format="UTF8", content=self.personal
            )
        if self.total_cost is not None:
            response.total_cost = self.total_cost
        return response


def message(
    m: Any,
    message_id: int,
    text: str,
    priority: str = "NormalCycle",
    *,
    message_format: str = "UTF8",
    language: str | None = None,
    **fields: Any,
) -> Any:
    """A MessageInfo; `fields`: state, start_date_time, end_date_time, transaction_id, display,
    message_extra (2.1)."""
    return m.MessageInfo(
        id=message_id,
        priority=priority,
        message=m.MessageContent(format=message_format, content=text, language=language or UNSET),
        **fields,
    )


async def set_message(connection: Any, info: Any) -> Any:
    """SetDisplayMessage; its response."""
    m = MODULES[connection.version]
    return await connection.call(m.SetDisplayMessageRequest(message=info))


def hardware_of(station: StationV2) -> SimulatedHardware:
    assert isinstance(station.hardware, SimulatedHardware)
    return station.hardware


def shown(station: StationV2) -> list[tuple[int, str, str]]:
    """What the simulated display shows: (id, content, priority), highest priority first."""
    return [(m.id, m.content, m.priority) for m in hardware_of(station).displayed]


async def showing(station: StationV2, expected: list[tuple[int, str, str]]) -> None:
    """Wait until the simulated display shows `expected` (the timers run on the event loop)."""
    try:
        await aio.until(lambda: shown(station) == expected, timeout=5)
    except AssertionError:
        raise AssertionError(f"display shows {shown(station)}, expected {expected}") from None


async def get_messages(connection: Any, csms: DisplayCsms, request_id: int, **criteria: Any) -> Any:
    """GetDisplayMessages: (its status, the ids of the messages reported, the parts' tbc)."""
    m = MODULES[connection.version]
    response = await connection.call(m.GetDisplayMessagesRequest(request_id=request_id, **criteria))
    if response.status != "Accepted":
        return response.status, [], []
    await csms.wait(
        "NotifyDisplayMessages", where=lambda r: r.request_id == request_id and not r.tbc
    )
    parts = [r for r in csms.of("NotifyDisplayMessages") if r.request_id == request_id]
    ids = [info.id for part in parts for info in part.message_info]
    return response.status, ids, [part.tbc for part in parts]


# ------------------------------------------------------------------------------------------
# O01 / O06 Set and replace


def test_O01_set_display_message_statuses(core: Backend, v2: str) -> None:
    """O01: Accepted (shown on the display at once, counted in DisplayMessageCtrlr.
    DisplayMessages); NotSupportedMessageFormat for a format not in SupportedFormats (HTML);
    NotSupportedState for a state not in SupportedStates (Faulted); NotSupportedPriority for a
    priority not in SupportedPriorities; O02 UnknownTransaction for a transaction that does not
    run; Rejected (UnknownEvse) for a display on an EVSE the station has not. A refused message
    is not kept."""

    async def main() -> None:
        async with booted(core, v2, DisplayCsms()) as (station, _, connection, m):
            accepted = await set_message(connection, message(m, 1, "Welcome"))
            assert (accepted.status, accepted.status_info) == ("Accepted", UNSET)
            await showing(station, [(1, "Welcome", "NormalCycle")])
            displayed = hardware_of(station).displayed[0]
            assert (displayed.format, displayed.evse_id) == ("UTF8", None)

            html = await set_message(connection, message(m, 2, "<b>x</b>", message_format="HTML"))
            assert html.status == "NotSupportedMessageFormat"
            assert html.status_info.reason_code == "UnsupportedParam"
            faulted = await set_message(connection, message(m, 3, "Broken", state="Faulted"))
            assert faulted.status == "NotSupportedState"
            unknown_tx = await set_message(connection, message(m, 4, "Hi", transaction_id="nope"))
            assert (unknown_tx.status, unknown_tx.status_info.reason_code) == (
                "UnknownTransaction",
                "TxNotFound",
            )
            elsewhere = message(
                m, 5, "EVSE 9", display=m.Component(name="Display", evse=m.EVSE(id=9))
            )
            refused = await set_message(connection, elsewhere)
            assert (refused.status, refused.status_info.reason_code) == ("Rejected", "UnknownEvse")

            # A display whose hardware has no AlwaysFront (the vendor's own setting).
            station.device_model.set_actual(
                "DisplayMessageCtrlr", "SupportedPriorities", "InFront,NormalCycle"
            )
            front = await set_message(connection, message(m, 6, "Now!", "AlwaysFront"))
            assert front.status == "NotSupportedPriority"

            response = await connection.call(
                m.GetVariablesRequest(
                    get_variable_data=[get(m, "DisplayMessageCtrlr", "DisplayMessages")]
                )
            )
            assert response.get_variable_result[0].attribute_value == "1"
            assert shown(station) == [(1, "Welcome", "NormalCycle")]

    run(main())


def test_O01_O06_priorities_and_replacement(core: Backend, v2: str) -> None:
    """O01 (MessagePriorityEnumType): AlwaysFront before InFront before NormalCycle; of two
    AlwaysFront messages only the newer shows ("when a newer message with this priority is
    received, this message is replaced"), the older one again once the newer is cleared. O06: a
    message with the id of one set replaces it (content and priority)."""

    async def main() -> None:
        async with booted(core, v2, DisplayCsms()) as (station, _, connection, m):
            for info in (
                message(m, 1, "Cycle", "NormalCycle"),
                message(m, 2, "Front", "InFront"),
                message(m, 3, "Always A", "AlwaysFront"),
                message(m, 4, "Always B", "AlwaysFront"),
            ):
                assert (await set_message(connection, info)).status == "Accepted"
            await showing(
                station,
                [
                    (4, "Always B", "AlwaysFront"),
                    (2, "Front", "InFront"),
                    (1, "Cycle", "NormalCycle"),
                ],
            )
            replaced = await set_message(connection, message(m, 1, "Cycle 2", "InFront"))
            assert replaced.status == "Accepted"
            cleared = await connection.call(m.ClearDisplayMessageRequest(id=4))
            assert cleared.status == "Accepted"
            await showing(
                station,
                [
                    (3, "Always A", "AlwaysFront"),
                    (2, "Front", "InFront"),
                    (1, "Cycle 2", "InFront"),
                ],
            )
            assert len(station.display) == 3

    run(main())


# ------------------------------------------------------------------------------------------
# O03 / O04 Get, O05 Clear


def test_O03_O04_get_display_messages_in_parts_and_by_criteria(core: Backend, v2: str) -> None:
    """O03: GetDisplayMessages without criteria: Accepted, then every message set in
    NotifyDisplayMessagesRequests with its requestId, tbc true on all parts but the last; O04:
    by id, priority and state, every criterion given must match; Unknown (StatusInfo NotFound)
    when none does, and then no NotifyDisplayMessages."""

    async def main() -> None:
        csms = DisplayCsms()
        async with booted(core, v2, csms) as (_station, _, connection, m):
            empty = await connection.call(m.GetDisplayMessagesRequest(request_id=1))
            assert (empty.status, empty.status_info.reason_code) == ("Unknown", "NotFound")
            for message_id in range(1, 13):
                priority = "InFront" if message_id % 3 == 0 else "NormalCycle"
                state = "Charging" if message_id % 4 == 0 else UNSET
                info = message(m, message_id, f"Message {message_id}", priority, state=state)
                assert (await set_message(connection, info)).status == "Accepted"

            status, ids, tbc = await get_messages(connection, csms, 2)
            assert (status, ids, tbc) == ("Accepted", list(range(1, 13)), [True, False])
            status, ids, tbc = await get_messages(connection, csms, 3, id=[5, 7, 99])
            assert (status, ids, tbc) == ("Accepted", [5, 7], [False])
            assert (await get_messages(connection, csms, 4, priority="InFront"))[1] == [3, 6, 9, 12]
            assert (await get_messages(connection, csms, 5, state="Charging"))[1] == [4, 8, 12]
            both = await get_messages(connection, csms, 6, priority="InFront", state="Charging")
            assert both[1] == [12]
            none = await get_messages(connection, csms, 7, id=[5], priority="InFront")
            assert none == ("Unknown", [], [])
            assert not [r for r in csms.of("NotifyDisplayMessages") if r.request_id in (1, 7)]
            reported = next(r for r in csms.of("NotifyDisplayMessages") if r.request_id == 3)
            first = reported.message_info[0]
            assert (first.message.content, first.priority) == ("Message 5", "NormalCycle")

    run(main())


def test_O05_clear_display_message(core: Backend, v2: str) -> None:
    """O05: ClearDisplayMessage of a message set: Accepted, it is gone (off the display, not
    reported, not counted); of an id not set: Unknown."""

    async def main() -> None:
        csms = DisplayCsms()
        async with booted(core, v2, csms) as (station, _, connection, m):
            await set_message(connection, message(m, 7, "Closing at 22:00", "InFront"))
            await showing(station, [(7, "Closing at 22:00", "InFront")])
            assert (await connection.call(m.ClearDisplayMessageRequest(id=7))).status == "Accepted"
            await showing(station, [])
            assert (await connection.call(m.ClearDisplayMessageRequest(id=7))).status == "Unknown"
            assert (await get_messages(connection, csms, 1))[0] == "Unknown"
            assert len(station.display) == 0

    run(main())


# ------------------------------------------------------------------------------------------
# Times, states, transactions


def test_O01_start_and_end_times_on_the_station_clock(core: Backend, v2: str) -> None:
    """O01 (MessageInfoType startDateTime: "from what date-time should this message be shown";
    endDateTime: "after this date/time this message SHALL be removed"): the message appears
    when the station's clock reaches its start and is removed at its end, by a timer on the
    event loop; a message whose end has passed is Rejected."""

    async def main() -> None:
        csms = DisplayCsms()
        async with booted(core, v2, csms) as (station, _, connection, m):
            clock = clock_of(station)
            start, end = NOW + timedelta(seconds=1), NOW + timedelta(seconds=2)
            info = message(m, 1, "Happy hour", start_date_time=start, end_date_time=end)
            assert (await set_message(connection, info)).status == "Accepted"
            assert shown(station) == []
            clock.advance(1)
            await showing(station, [(1, "Happy hour", "NormalCycle")])
            displayed = hardware_of(station).displayed[0]
            assert (displayed.start, displayed.end) == (start, end)
            clock.advance(1)
            await showing(station, [])
            assert len(station.display) == 0
            assert (await get_messages(connection, csms, 1))[0] == "Unknown"
            past = message(m, 2, "Too late", end_date_time=clock.now - timedelta(seconds=1))
            late = await set_message(connection, past)
            assert (late.status, late.status_info.reason_code) == ("Rejected", "InvalidValue")

    run(main())


def test_O01_state_and_O02_transaction_messages(core: Backend, v2: str) -> None:
    """O01 (MessageStateEnumType): an Idle message shows while no transaction runs, a Charging
    one while it does, an Unavailable one while the EVSE is Inoperative (G03); a message for an
    EVSE's display carries its EVSE. O02: a message for a running transaction shows on its
    EVSE while it runs and is removed when it ends ("Message SHALL be removed by the Charging
    Station after transaction has ended")."""

    async def main() -> None:
        csms = DisplayCsms()
        async with booted(core, v2, csms) as (station, _, connection, m):
            on_evse = {"display": m.Component(name="Display", evse=m.EVSE(id=1))}
            for info in (
                message(m, 1, "Plug in to start", state="Idle", **on_evse),
                message(m, 2, "Charging...", state="Charging", **on_evse),
                message(m, 3, "Out of order", state="Unavailable", **on_evse),
            ):
                assert (await set_message(connection, info)).status == "Accepted"
            await showing(station, [(1, "Plug in to start", "NormalCycle")])
            assert hardware_of(station).displayed[0].evse_id == 1

            transaction_id = await station.start_transaction(1, "TAG-1")
            await showing(station, [(2, "Charging...", "NormalCycle")])
            for_tx = message(m, 4, "Hello driver", "InFront", transaction_id=transaction_id)
            assert (await set_message(connection, for_tx)).status == "Accepted"
            await showing(
                station, [(4, "Hello driver", "InFront"), (2, "Charging...", "NormalCycle")]
            )
            tied = hardware_of(station).displayed[0]
            assert (tied.evse_id, tied.transaction_id) == (1, transaction_id)

            await station.stop_transaction(1)
            await showing(station, [(1, "Plug in to start", "NormalCycle")])
            assert 4 not in [info["id"] for info in station.display.find()]

            change = await connection.call(
                m.ChangeAvailabilityRequest(operational_status="Inoperative", evse=m.EVSE(id=1))
            )
            assert change.status == "Accepted"
            await showing(station, [(3, "Out of order", "NormalCycle")])

    run(main())


def test_display_messages_persist_across_a_restart(core: Backend, v2: str, tmp_path: Path) -> None:
    """O01 (DisplayMessageCtrlr.DisplayMessages: the messages "configured in this Charging
    Station"): what the CSMS set is kept in the station's data file; a station built from it
    after a restart shows it again at once and reports it; a transaction's message does not
    outlive the transaction the power cut ended (O02)."""
    path = tmp_path / "station.sqlite3"

    async def main() -> None:
        m = MODULES[v2]
        async with contextlib.AsyncExitStack() as stack:
            store = await StationStore.open(path)
            stack.push_async_callback(store.close)
            station = make_station(v2, data=await store.load("CP1"))
            csms = DisplayCsms()
            async with connect(core, station, csms, v2) as connection:
                await ready(station, csms)
                await set_message(connection, message(m, 1, "Kept", "InFront"))
                transaction_id = await station.start_transaction(1, "TAG-1")
                for_tx = message(m, 2, "Your session", transaction_id=transaction_id)
                assert (await set_message(connection, for_tx)).status == "Accepted"
            await station.data.flush()
            STATIONS.remove(station)  # a power cut: no shutdown, the transaction is lost

            again = make_station(v2, data=await store.load("CP1"))
            assert shown(again) == [(1, "Kept", "InFront")]
            csms = DisplayCsms()
            async with connect(core, again, csms, v2) as connection:
                await ready(again, csms)
                assert (await get_messages(connection, csms, 9)) == ("Accepted", [1], [False])
            while STATIONS:
                await STATIONS.pop().shutdown()

    run(main())


# ------------------------------------------------------------------------------------------
# I: the driver's session on the display


def test_I01_I02_I03_I06_personal_message_and_cost(core: Backend, v2: str) -> None:
    """I01 / I06: the personal message of TransactionEventResponse.updatedPersonalMessage shows
    on the transaction's EVSE (cut to DisplayMessageCtrlr.PersonalMessageSize); I02: the
    running cost of CostUpdated and of TransactionEventResponse.totalCost, in
    TariffCostCtrlr.Currency; I03: the final cost of the Ended event's answer replaces them when
    the transaction ends. None of them overrides an AlwaysFront message."""

    async def main() -> None:
        csms = DisplayCsms()
        async with booted(core, v2, csms) as (station, _, connection, m):
            statuses = await set_variables(
                connection,
                put(m, "TariffCostCtrlr", "Currency", "CHF"),
                put(m, "DisplayMessageCtrlr", "PersonalMessageSize", "12"),
            )
            assert statuses == ["Accepted", "Accepted"]
            csms.personal = "Hello Alice, 0.30/kWh"
            transaction_id = await station.start_transaction(1, "TAG-1")
            await showing(station, [(-2, "Hello Alice,", "InFront")])
            await connection.call(
                m.CostUpdatedRequest(total_cost=1.25, transaction_id=transaction_id)
            )
            await showing(
                station, [(-2, "Hello Alice,", "InFront"), (-3, "Cost so far: 1.25 CHF", "InFront")]
            )
            await set_message(connection, message(m, 9, "Storm warning", "AlwaysFront"))
            await showing(
                station,
                [
                    (9, "Storm warning", "AlwaysFront"),
                    (-2, "Hello Alice,", "InFront"),
                    (-3, "Cost so far: 1.25 CHF", "InFront"),
                ],
            )
            assert {d.evse_id for d in hardware_of(station).displayed} == {None, 1}
            csms.total_cost = 2.5
            await station.sample_now(1)  # a TransactionEvent Updated, answered with totalCost
            await aio.until(lambda: "Cost so far: 2.50 CHF" in [s[1] for s in shown(station)])
            await station.stop_transaction(1)
            await showing(
                station,
                [(9, "Storm warning", "AlwaysFront"), (-3, "Total cost: 2.50 CHF", "InFront")],
            )

    run(main())


def test_I04_I05_fallback_messages(core: Backend) -> None:
    """I04: without a personal message the transaction's EVSE shows
    TariffCostCtrlr.TariffFallbackMessage; I05: a transaction that ends offline (no final cost
    can come) shows TotalCostFallbackMessage, for a while (FINAL_COST_SECONDS on the station's
    clock), then nothing."""

    async def main() -> None:
        csms = DisplayCsms()
        async with booted(core, "ocpp2.0.1", csms) as (station, _, connection, m):
            await set_variables(
                connection,
                put(m, "TariffCostCtrlr", "TariffFallbackMessage", "0.35 EUR/kWh"),
                put(m, "TariffCostCtrlr", "TotalCostFallbackMessage", "See your receipt"),
            )
            await station.start_transaction(1, "TAG-1")
            await showing(station, [(-2, "0.35 EUR/kWh", "InFront")])
            await connection.close()
            await aio.until(lambda: not station.online)
            await station.stop_transaction(1)
            await showing(station, [(-3, "See your receipt", "InFront")])
            # The test clock jumps 61 s at once; the display's timer (armed for 60 s of real
            # time) would find the same: refresh now instead of waiting for it.
            clock_of(station).advance(61)
            station.display.refresh()
            await showing(station, [])

    run(main())


# ------------------------------------------------------------------------------------------
# 2.1


def test_2_1_translations_languages_qr_codes_and_suspended(core: Backend) -> None:
    """2.1 (O01 "Added multi-language support"): of a message and its messageExtra
    translations the display shows the one in DisplayMessageCtrlr.Language; a message in no
    language of its valuesList is LanguageNotSupported; QRCODE is a supported format; the
    Suspended state (MessageStateEnumType 2.1) covers a transaction whose EV suspended, and
    Discharging (V2X) is NotSupportedState. The translations are reported back as set."""

    async def main() -> None:
        csms = DisplayCsms()
        async with booted(core, "ocpp2.1", csms) as (station, _, connection, m):
            translated = message(
                m,
                1,
                "Welcome",
                language="en",
                message_extra=[
                    m.MessageContent(format="UTF8", content="Willkommen", language="de")
                ],
            )
            assert (await set_message(connection, translated)).status == "Accepted"
            await showing(station, [(1, "Welcome", "NormalCycle")])
            assert await set_variables(connection, put(m, "DisplayMessageCtrlr", "Language", "de"))
            await showing(station, [(1, "Willkommen", "NormalCycle")])
            assert hardware_of(station).displayed[0].language == "de"

            portuguese = message(m, 2, "Bem-vindo", language="pt")
            assert (await set_message(connection, portuguese)).status == "LanguageNotSupported"
            qr = message(m, 3, "https://pay.example/CP1", message_format="QRCODE")
            assert (await set_message(connection, qr)).status == "Accepted"
            v2x = message(m, 4, "Feeding the grid", state="Discharging")
            assert (await set_message(connection, v2x)).status == "NotSupportedState"

            paused = message(m, 5, "Your EV paused charging", "InFront", state="Suspended")
            assert (await set_message(connection, paused)).status == "Accepted"
            await station.start_transaction(1, "TAG-1")
            await station.ev_suspend(1)
            await aio.until(lambda: 5 in [s[0] for s in shown(station)])
            await station.ev_resume(1)
            await aio.until(lambda: 5 not in [s[0] for s in shown(station)])

            _, ids, _ = await get_messages(connection, csms, 8, id=[1])
            reported = next(r for r in csms.of("NotifyDisplayMessages") if r.request_id == 8)
            extra = reported.message_info[0].message_extra
            assert ids == [1] and [(e.content, e.language) for e in extra] == [("Willkommen", "de")]

    run(main())


def test_display_disabled_shows_and_takes_nothing(core: Backend) -> None:
    """A201 3.1.8 DisplayMessageCtrlr.Enabled false: SetDisplayMessage is Rejected (NotEnabled)
    and the messages set leave the display until it is enabled again."""

    async def main() -> None:
        async with booted(core, "ocpp2.0.1", DisplayCsms()) as (station, _, connection, m):
            await set_message(connection, message(m, 1, "Hello"))
            await showing(station, [(1, "Hello", "NormalCycle")])
            await set_variables(connection, put(m, "DisplayMessageCtrlr", "Enabled", "false"))
            await showing(station, [])
            refused = await set_message(connection, message(m, 2, "Ignored"))
            assert (refused.status, refused.status_info.reason_code) == ("Rejected", "NotEnabled")
            await set_variables(connection, put(m, "DisplayMessageCtrlr", "Enabled", "true"))
            await showing(station, [(1, "Hello", "NormalCycle")])

    run(main())


def test_display_fault_is_logged_not_fatal(core: Backend, caplog: pytest.LogCaptureFixture) -> None:
    """Bad hardware never crashes the station: a display that raises is logged, the CSMS still
    gets Accepted."""

    class BrokenDisplay(SimulatedHardware):
        def show_messages(self, messages: list[DisplayedMessage]) -> None:
            raise OSError("display cable unplugged")

    async def main() -> None:
        station = make_station("ocpp2.0.1")
        station.hardware = BrokenDisplay()
        station.display = type(station.display)(
            station.data,
            now=station.now,
            situation=station._display_situation,
            settings=station._display_settings,
            show=station.hardware.show_messages,
            track=lambda write: None,
            log=station.log,
        )
        csms = DisplayCsms()
        async with connect(core, station, csms, "ocpp2.0.1") as connection:
            await ready(station, csms)
            m = MODULES["ocpp2.0.1"]
            assert (await set_message(connection, message(m, 1, "Hi"))).status == "Accepted"
        assert "the display failed to show 1 message(s)" in caplog.text

    run(main())


# ------------------------------------------------------------------------------------------
# Interop: the `ocpp` package's central system


@contextlib.asynccontextmanager
async def ocpp_central_system(port: int) -> AsyncIterator[asyncio.Queue[Any]]:
    """The `ocpp` package's 2.0.1 ChargePoint (the CSMS side) on 127.0.0.1:`port`; yields a
    queue that receives it once a station has booted, with what it was told."""
    import ocpp.v201
    from ocpp.routing import on as ocpp_on
    from websockets.asyncio.server import serve

    booted_queue: asyncio.Queue[Any] = asyncio.Queue()

    class CentralSystem(ocpp.v201.ChargePoint):  # type: ignore[misc]
        notified: list[dict[str, Any]]

        @ocpp_on("BootNotification")
        def on_boot(self, **_: Any) -> Any:
            asyncio.get_running_loop().call_soon(booted_queue.put_nowait, self)
            return ocpp.v201.call_result.BootNotification(
                current_time=datetime.now(NOW.tzinfo).isoformat(), interval=300, status="Accepted"
            )

        @ocpp_on("StatusNotification")
        def on_status(self, **_: Any) -> Any:
            return ocpp.v201.call_result.StatusNotification()

        @ocpp_on("SecurityEventNotification")
        def on_security_event(self, **_: Any) -> Any:
            return ocpp.v201.call_result.SecurityEventNotification()

        @ocpp_on("Heartbeat")
        def on_heartbeat(self, **_: Any) -> Any:
            return ocpp.v201.call_result.Heartbeat(
                current_time=datetime.now(NOW.tzinfo).isoformat()
            )

        @ocpp_on("NotifyDisplayMessages")
        def on_notify_display_messages(self, **payload: Any) -> Any:
            self.notified.append(payload)
            return ocpp.v201.call_result.NotifyDisplayMessages()

    async def handler(websocket: Any) -> None:
        central = CentralSystem("CP1", websocket)
        central.notified = []
        await central.start()

    async with serve(handler, "127.0.0.1", port, subprotocols=["ocpp2.0.1"]):  # type: ignore[list-item]
        yield booted_queue


def test_interop_ocpp_central_system_sets_gets_and_clears(core: Backend) -> None:
    """Interop (O01, O03, O05 over a real socket): the `ocpp` package's 2.0.1 central system
    sets a display message on our station (Accepted, on the display), gets it back
    (GetDisplayMessages Accepted, then NotifyDisplayMessages with it, validated by the `ocpp`
    package against the official schema) and clears it (Accepted, off the display; a second
    clear Unknown)."""
    import ocpp.v201

    from ocppfast.asyncio.client import Client
    from ocppfast.station.fleet import attach

    port = aio.free_port()

    async def main() -> None:
        async with ocpp_central_system(port) as booted_queue:
            station = make_station("ocpp2.0.1")
            client = Client(
                f"ws://127.0.0.1:{port}", "CP1", versions=["ocpp2.0.1"], handlers=station, core=core
            )
            attach(station, client)
            task = asyncio.create_task(client.run())
            try:
                central = await asyncio.wait_for(booted_queue.get(), 10)
                await aio.until(lambda: station.booted.is_set())
                info: dict[str, Any] = {
                    "id": 11,
                    "priority": "InFront",
                    "message": {"format": "UTF8", "content": "Free parking until 20:00"},
                }
                result = await central.call(ocpp.v201.call.SetDisplayMessage(message=info))
                assert result.status == "Accepted"
                await showing(station, [(11, "Free parking until 20:00", "InFront")])
                got = await central.call(ocpp.v201.call.GetDisplayMessages(request_id=5))
                assert got.status == "Accepted"
                await aio.until(lambda: bool(central.notified))
                (notified,) = central.notified
                assert notified["request_id"] == 5 and not notified.get("tbc", False)
                assert (
                    notified["message_info"][0]["message"]["content"] == info["message"]["content"]
                )
                cleared = await central.call(ocpp.v201.call.ClearDisplayMessage(id=11))
                assert cleared.status == "Accepted"
                await showing(station, [])
                again = await central.call(ocpp.v201.call.ClearDisplayMessage(id=11))
                assert again.status == "Unknown"
            finally:
                await client.stop()
                await task
                while STATIONS:
                    await STATIONS.pop().shutdown()

    aio.run(main())
