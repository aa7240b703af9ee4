"""The shortcuts on `DefaultCSMS`'s hot paths (what a station sends most: Heartbeat,
StatusNotification, MeterValues, TransactionEvent) answer, record and log exactly what the plain
code they replace did: the whole-second clock, enum texts by dict lookup, inlined sample
building, log messages made only when their level is enabled, and value types that are frozen
msgspec Structs rather than frozen dataclasses.
"""

from __future__ import annotations

import datetime
import enum
import logging
import math
from datetime import timedelta, timezone
from typing import Any

import msgspec
import pytest

from ocppfast import v16, v21, v201
from ocppfast._core import Backend
from ocppfast.csms import (
    ENERGY_REGISTER,
    BootInfo,
    ConnectorStatus,
    CsmsState,
    Notification,
    OperationStatus,
    Sample,
    TransactionEventData,
)
from ocppfast.csms.default import _now, _text, _WholeSecondClock, samples_v2, samples_v16
from tests.aio import run
from tests.test_csms_default import MODULES, T0, V2, station

UTC = timezone.utc


# -- the clock --------------------------------------------------------------------------------


class FakeTime:
    """A settable clock read, seconds since the epoch."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def test_whole_second_clock_changes_with_the_second_only() -> None:
    """The clock gives the UTC time truncated to whole seconds; within one second it gives the
    same value (made once), and a new one as soon as the second changes, forwards or back (the
    system clock set back). It reads the time at every call: nothing is stale."""
    second = T0.timestamp()
    time = FakeTime(second + 0.25)
    clock = _WholeSecondClock(time)
    first = clock()
    assert first == T0 and first.tzinfo is UTC and first.microsecond == 0
    time.now = second + 0.999999
    assert clock() is first
    time.now = second + 1
    assert clock() == T0 + timedelta(seconds=1)
    time.now = second - 0.5  # set back
    assert clock() == T0 - timedelta(seconds=1)
    time.now = second
    assert clock() == T0
    assert time.reads == 5


def test_whole_second_clock_before_the_epoch_truncates_downwards() -> None:
    """Truncation to the second is a floor, as `replace(microsecond=0)` is, on either side of
    the epoch."""
    clock = _WholeSecondClock(lambda: -0.5)
    assert clock() == datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_now_is_the_current_utc_time_in_whole_seconds() -> None:
    """`_now()` (the module's clock, on the system time) lies between the current time in whole
    seconds read before and after it, as `datetime.now(utc).replace(microsecond=0)`."""
    before = datetime.datetime.now(UTC).replace(microsecond=0)
    now = _now()
    after = datetime.datetime.now(UTC).replace(microsecond=0)
    assert before <= now <= after
    assert now.tzinfo is UTC and now.microsecond == 0


# -- enum texts -------------------------------------------------------------------------------


def _plain_text(value: Any) -> str | None:
    """What `_text` was: the wire text of an optional enum or string field."""
    if value is msgspec.UNSET:
        return None
    return str(getattr(value, "value", value))


@pytest.mark.parametrize("module", [v16.enums, v201.enums, v21.enums], ids=lambda m: m.__name__)
def test_text_of_every_enum_member_and_of_its_string_is_its_wire_text(module: Any) -> None:
    """Every member of every generated enumeration (str enums), and the plain string of its
    value, give the value's text, a plain str, as `member.value` does."""
    for name in module.__all__:
        members = list(getattr(module, name))
        assert members and all(isinstance(m, str) and isinstance(m, enum.Enum) for m in members)
        for member in members:
            assert _text(member) == member.value and type(_text(member)) is str
            assert _text(member.value) == member.value and type(_text(member.value)) is str
            assert _text(member) == _plain_text(member)


@pytest.mark.parametrize(
    "value",
    [msgspec.UNSET, "kWh", "x-custom-unit", "", "Ünits", 5, 2.5, v201.ConnectorStatusEnum.Occupied],
)
def test_text_of_other_values_is_as_before(value: Any) -> None:
    """Absent fields are None; strings that are no enum's value (a 2.x unit, a custom one),
    and anything else, give the same text as before."""
    assert _text(value) == _plain_text(value)
    assert type(_text(value)) is (type(None) if value is msgspec.UNSET else str)


def test_text_of_an_object_with_a_value_is_its_value_as_text() -> None:
    class Valued:
        value = 42

    assert _text(Valued()) == "42" == _plain_text(Valued())


# -- samples ----------------------------------------------------------------------------------


def test_samples_v16_keep_texts_numbers_and_defaults() -> None:
    """C16 7.43: values as text; the number when the text is a finite decimal number (not for
    SignedData); the measurand defaults to the energy register; enums as their texts."""
    at = T0 + timedelta(minutes=1)
    later = at + timedelta(minutes=1)
    meter_values = [
        v16.MeterValue(
            timestamp=at,
            sampled_value=[
                v16.SampledValue(value="1234.5"),
                v16.SampledValue(
                    value="230.1",
                    context=v16.ReadingContext.Sample_Periodic,
                    format=v16.ValueFormat.Raw,
                    measurand=v16.Measurand.Voltage,
                    phase=v16.Phase.L1_N,
                    location=v16.Location.Outlet,
                    unit=v16.UnitOfMeasure.V,
                ),
                v16.SampledValue(value="A1B2C3", format=v16.ValueFormat.SignedData),
                v16.SampledValue(value="1e3", format=v16.ValueFormat.SignedData),
            ],
        ),
        v16.MeterValue(
            timestamp=later,
            sampled_value=[
                v16.SampledValue(value="not a number", unit=v16.UnitOfMeasure.kWh),
                v16.SampledValue(value="NaN"),
                v16.SampledValue(value="inf"),
                v16.SampledValue(value=" 7 "),
            ],
        ),
    ]
    assert samples_v16(meter_values) == [
        Sample(at, "1234.5", 1234.5),
        Sample(at, "230.1", 230.1, "Voltage", "V", "L1-N", "Outlet", "Sample.Periodic"),
        Sample(at, "A1B2C3", None, signed=True),
        Sample(at, "1e3", None, signed=True),
        Sample(later, "not a number", None, unit="kWh"),
        Sample(later, "NaN", None),
        Sample(later, "inf", None),
        Sample(later, " 7 ", 7.0),
    ]
    assert samples_v16([]) == []
    for sample in samples_v16(meter_values):
        for text in (sample.measurand, sample.unit, sample.phase, sample.location, sample.context):
            assert text is None or type(text) is str


@pytest.mark.parametrize("v2", V2)
def test_samples_v2_apply_multipliers_and_keep_texts(v2: str) -> None:
    """2.0.1/2.1 SampledValueType: numbers, with the unit's multiplier applied; the text is the
    number as received; a signed meter value marks the sample signed."""
    m = MODULES[v2]
    signed = m.SignedMeterValue(
        signed_meter_data="AAAA", signing_method="ECDSA", encoding_method="OCMF", public_key="B"
    )
    if v2 == "ocpp2.1":  # 2.1 made signingMethod and publicKey optional
        signed = m.SignedMeterValue(signed_meter_data="AAAA", encoding_method="OCMF")
    meter_values = [
        m.MeterValue(
            timestamp=T0,
            sampled_value=[
                m.SampledValue(value=12.5),
                m.SampledValue(value=1.5, unit_of_measure=m.UnitOfMeasure(unit="kWh")),
                m.SampledValue(value=2.0, unit_of_measure=m.UnitOfMeasure(multiplier=3)),
                m.SampledValue(value=7.0, unit_of_measure=m.UnitOfMeasure(unit="W", multiplier=0)),
                m.SampledValue(
                    value=31.8,
                    context=m.ReadingContextEnum.Sample_Periodic,
                    measurand=m.MeasurandEnum.Current_Import,
                    phase=m.PhaseEnum.L2,
                    location=m.LocationEnum.Outlet,
                    unit_of_measure=m.UnitOfMeasure(unit="A", multiplier=-1),
                ),
                m.SampledValue(value=100.0, signed_meter_value=signed),
                m.SampledValue(value=1e308, unit_of_measure=m.UnitOfMeasure(multiplier=1)),
            ],
        )
    ]
    samples = samples_v2(meter_values)
    assert samples == [
        Sample(T0, "12.5", 12.5),
        Sample(T0, "1.5", 1.5, unit="kWh"),
        Sample(T0, "2.0", 2000.0),
        Sample(T0, "7.0", 7.0, unit="W"),
        Sample(
            T0, "31.8", 31.8 * 10.0**-1, "Current.Import", "A", "L2", "Outlet", "Sample.Periodic"
        ),
        Sample(T0, "100.0", 100.0, signed=True),
        Sample(T0, "1e+308", None),  # not finite once multiplied
    ]
    assert math.isclose(samples[4].value or 0, 3.18)
    assert samples[0].measurand == ENERGY_REGISTER


# -- value types ------------------------------------------------------------------------------


def test_value_types_are_immutable_and_compare_by_value() -> None:
    """The version-neutral values the state takes are frozen: equal when their fields are,
    hashable (all but BootInfo, whose extra is a mapping), and not assignable."""
    values = [
        Sample(T0, "1", 1.0, unit="kWh"),
        ConnectorStatus("Charging", T0, "NoError"),
        OperationStatus("Downloaded", 3, T0),
        Notification(T0, "data"),
        TransactionEventData("Updated", "tx-1", 1, T0, "MeterValuePeriodic", samples=()),
    ]
    for value in values:
        copy = msgspec.structs.replace(value)
        assert copy == value and copy is not value and hash(copy) == hash(value)
        field = value.__struct_fields__[0]
        with pytest.raises(AttributeError):
            setattr(value, field, None)
    boot = BootInfo("Vendor", "Model")
    assert boot == BootInfo("Vendor", "Model", None, None, None, {})
    assert boot.extra == {} and boot.extra is not BootInfo("Vendor", "Model").extra
    assert Sample(T0, "1", 1.0) != Sample(T0, "1", 2.0)
    assert (
        Sample(T0, "1", 1.0).energy_wh == 1.0 and Sample(T0, "1", 1.0, unit="kWh").energy_wh == 1000
    )
    assert repr(Sample(T0, "1", None)).startswith("Sample(timestamp=datetime.datetime(2026, 11, 21")


# -- what is recorded and logged --------------------------------------------------------------


def _messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "ocppfast.csms"]


def _v16_load(core: Backend, state: CsmsState) -> int:
    """Statuses, a transaction and its meter values, heartbeats; the transaction's id."""

    async def main() -> int:
        async with station(core, "ocpp1.6", state, "CP1") as cp:
            for status in ("Charging", "Charging", "SuspendedEV"):
                await cp.call(
                    v16.StatusNotificationRequest(
                        connector_id=1,
                        error_code=v16.ChargePointErrorCode.NoError,
                        status=v16.ChargePointStatus(status),
                        timestamp=T0,
                    )
                )
            await cp.call(
                v16.StatusNotificationRequest(
                    connector_id=2,
                    error_code=v16.ChargePointErrorCode.GroundFailure,
                    status=v16.ChargePointStatus.Faulted,
                    info="RCD tripped",
                )
            )
            start = await cp.call(
                v16.StartTransactionRequest(
                    connector_id=1, id_tag="TAG", meter_start=1000, timestamp=T0
                )
            )
            for transaction_id in (start.transaction_id, 99, msgspec.UNSET):
                await cp.call(
                    v16.MeterValuesRequest(
                        connector_id=1,
                        transaction_id=transaction_id,
                        meter_value=[
                            v16.MeterValue(
                                timestamp=T0 + timedelta(minutes=1),
                                sampled_value=[
                                    v16.SampledValue(value="1.5", unit=v16.UnitOfMeasure.kWh),
                                    v16.SampledValue(
                                        value="7.2", measurand=v16.Measurand.Power_Active_Import
                                    ),
                                ],
                            )
                        ],
                    )
                )
            await cp.call(v16.HeartbeatRequest())
            return int(start.transaction_id)

    return run(main())


def test_v16_hot_paths_record_and_log_as_before(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """C16 4.6, 4.7, 4.9 at DEBUG: every status (a change at INFO, a repeat at DEBUG), meter
    values with or without a known transaction, heartbeats; the state records them all."""
    state = CsmsState()
    with caplog.at_level(logging.DEBUG, logger="ocppfast.csms"):
        tx = _v16_load(core, state)
    messages = [m for m in _messages(caplog) if "StartTransaction" not in m[1]]
    assert [m for m in messages if "connector" in m[1] or "heartbeat" in m[1]] == [
        (logging.INFO, "CP1: connector 1 Charging"),
        (logging.DEBUG, "CP1: connector 1 still Charging"),
        (logging.INFO, "CP1: connector 1 Charging -> SuspendedEV"),
        (logging.INFO, "CP1: connector 2 Faulted (GroundFailure: RCD tripped)"),
        (logging.INFO, f"CP1: transaction {tx} started on connector 1 (meter 1000 Wh)"),
        (logging.DEBUG, f"CP1: 2 meter values on connector 1 (transaction {tx})"),
        (logging.DEBUG, "CP1: 2 meter values on connector 1 (transaction 99, unknown)"),
        (logging.DEBUG, "CP1: 2 meter values on connector 1"),
        (logging.DEBUG, "CP1: heartbeat"),
    ]
    record = state.station("cp1")
    assert record is not None and record.last_heartbeat is not None
    assert record.connectors[(0, 1)] == ConnectorStatus("SuspendedEV", T0, "NoError")
    faulted = record.connectors[(0, 2)]
    assert (faulted.status, faulted.error_code, faulted.info) == (
        "Faulted",
        "GroundFailure",
        "RCD tripped",
    )
    assert faulted.timestamp == record.last_seen  # no timestamp sent: the time received
    transaction = state.transaction("CP1", tx)
    assert transaction is not None and transaction.energy_wh == 500
    assert [(s.measurand, s.value, s.unit) for s in transaction.samples] == [
        (ENERGY_REGISTER, 1.5, "kWh"),
        ("Power.Active.Import", 7.2, None),
    ]
    assert [location for location, _ in record.meter_values] == [1, 1, 1, 1]


def test_v16_hot_paths_log_changes_at_info_when_debug_is_off(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """With DEBUG off, status changes are still logged at INFO, and nothing else is."""
    with caplog.at_level(logging.INFO, logger="ocppfast.csms"):
        tx = _v16_load(core, CsmsState())
    assert [m for m in _messages(caplog) if "connector" in m[1]] == [
        (logging.INFO, "CP1: connector 1 Charging"),
        (logging.INFO, "CP1: connector 1 Charging -> SuspendedEV"),
        (logging.INFO, "CP1: connector 2 Faulted (GroundFailure: RCD tripped)"),
        (logging.INFO, f"CP1: transaction {tx} started on connector 1 (meter 1000 Wh)"),
    ]
    assert all(level == logging.INFO for level, _ in _messages(caplog))


def _v2_load(core: Backend, v2: str, state: CsmsState) -> None:
    m = MODULES[v2]

    def event(kind: str, seq_no: int, trigger: str, **fields: Any) -> Any:
        info = fields.pop("info", {})
        return m.TransactionEventRequest(
            event_type=m.TransactionEventEnum(kind),
            timestamp=T0 + timedelta(minutes=seq_no),
            trigger_reason=m.TriggerReasonEnum(trigger),
            seq_no=seq_no,
            transaction_info=m.Transaction(transaction_id="tx-1", **info),
            **fields,
        )

    def energy(value: float, context: str) -> list[Any]:
        return [
            m.MeterValue(
                timestamp=T0,
                sampled_value=[
                    m.SampledValue(
                        value=value,
                        context=m.ReadingContextEnum(context),
                        unit_of_measure=m.UnitOfMeasure(unit="kWh"),
                    ),
                    m.SampledValue(value=11.0, measurand=m.MeasurandEnum.Power_Active_Import),
                ],
            )
        ]

    async def main() -> None:
        async with station(core, v2, state, "CS1") as cs:
            for status in ("Occupied", "Occupied", "Available"):
                await cs.call(
                    m.StatusNotificationRequest(
                        timestamp=T0,
                        connector_status=m.ConnectorStatusEnum(status),
                        evse_id=1,
                        connector_id=1,
                    )
                )
            await cs.call(
                event(
                    "Started",
                    0,
                    "Authorized",
                    id_token=m.IdToken(id_token="TAG", type="ISO14443"),  # 2.1: a string
                    evse=m.EVSE(id=1, connector_id=1),
                    offline=True,
                    meter_value=energy(1.0, "Transaction.Begin"),
                )
            )
            for _ in range(2):  # the second: a repeat
                await cs.call(
                    event(
                        "Updated",
                        1,
                        "MeterValuePeriodic",
                        info={"charging_state": m.ChargingStateEnum.Charging},
                        meter_value=energy(2.0, "Sample.Periodic"),
                    )
                )
            await cs.call(event("Updated", 2, "ChargingStateChanged"))
            await cs.call(
                event(
                    "Ended",
                    4,
                    "EVCommunicationLost",
                    info={"stopped_reason": m.ReasonEnum.EVDisconnected},
                    meter_value=energy(3.5, "Transaction.End"),
                )
            )
            await cs.call(m.MeterValuesRequest(evse_id=0, meter_value=energy(10.0, "Sample.Clock")))
            await cs.call(m.HeartbeatRequest())

    run(main())


@pytest.mark.parametrize("v2", V2)
def test_v2_hot_paths_record_and_log_as_before(
    core: Backend, v2: str, caplog: pytest.LogCaptureFixture
) -> None:
    """G01, E01-E15, J01, G02 at DEBUG: statuses, transaction events (new, repeated, ended with
    a gap in seqNo), meter values outside transactions and heartbeats, as logged and
    recorded."""
    state = CsmsState()
    with caplog.at_level(logging.DEBUG, logger="ocppfast.csms"):
        _v2_load(core, v2, state)
    messages = [msg for msg in _messages(caplog) if "idToken" not in msg[1]]
    assert messages[messages.index((logging.INFO, "CS1: EVSE 1 connector 1 Occupied")) :] == [
        (logging.INFO, "CS1: EVSE 1 connector 1 Occupied"),
        (logging.DEBUG, "CS1: EVSE 1 connector 1 still Occupied"),
        (logging.INFO, "CS1: EVSE 1 connector 1 Occupied -> Available"),
        (logging.INFO, "CS1: transaction tx-1 started on EVSE 1 (Authorized), sent offline"),
        (logging.DEBUG, "CS1: transaction tx-1 Updated (MeterValuePeriodic), Charging"),
        (logging.DEBUG, "CS1: transaction tx-1 seqNo 1 repeated"),
        (logging.DEBUG, "CS1: transaction tx-1 Updated (ChargingStateChanged)"),
        (
            logging.INFO,
            "CS1: transaction tx-1 ended (EVDisconnected): 2500 Wh; seqNo 3 not received yet",
        ),
        (logging.DEBUG, "CS1: 2 meter values on EVSE 0"),
        (logging.DEBUG, "CS1: heartbeat"),
        (logging.DEBUG, "CS1: disconnected (code 1000)"),
    ]
    record = state.transaction("cs1", "tx-1")
    assert record is not None and record.ended and record.offline
    assert (record.id_token, record.id_token_type) == ("TAG", "ISO14443")
    assert (record.evse_id, record.connector_id, record.charging_state) == (1, 1, "Charging")
    assert (record.meter_start, record.meter_stop, record.stop_reason) == (
        1000,
        3500,
        "EVDisconnected",
    )
    assert record.seq_nos == {0, 1, 2, 4} and len(record.samples) == 6  # the repeat added none
    power = ("Power.Active.Import", None, 11.0)
    assert [(s.measurand, s.context, s.value) for s in record.samples] == [
        (ENERGY_REGISTER, "Transaction.Begin", 1.0),
        power,
        (ENERGY_REGISTER, "Sample.Periodic", 2.0),
        power,
        (ENERGY_REGISTER, "Transaction.End", 3.5),
        power,
    ]
    assert all(type(s.measurand) is str for s in record.samples)
    cs_record = state.station("cs1")
    assert cs_record is not None and cs_record.last_heartbeat is not None
    assert cs_record.connectors[(1, 1)] == ConnectorStatus("Available", T0)
    assert [(location, s.value) for location, s in cs_record.meter_values] == [(0, 10.0), (0, 11.0)]


@pytest.mark.parametrize("v2", V2)
def test_v2_hot_paths_log_starts_and_ends_at_info_when_debug_is_off(
    core: Backend, v2: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With DEBUG off, status changes and transactions started and ended are still logged at
    INFO, and nothing else is."""
    with caplog.at_level(logging.INFO, logger="ocppfast.csms"):
        _v2_load(core, v2, CsmsState())
    messages = _messages(caplog)
    assert all(level == logging.INFO for level, _ in messages)
    assert [text for _, text in messages if "boot" not in text] == [
        "CS1: EVSE 1 connector 1 Occupied",
        "CS1: EVSE 1 connector 1 Occupied -> Available",
        "CS1: transaction tx-1 started on EVSE 1 (Authorized), sent offline",
        "CS1: transaction tx-1 ended (EVDisconnected): 2500 Wh; seqNo 3 not received yet",
    ]
