"""The default CSMS behaviour (`ocppfast.csms`): every message a station may send, in every
version, gets a valid and sensible answer, and the shared `CsmsState` records what it said.

Each test runs a CSMS `Connection` with `DefaultCSMS` and a station `Connection` over a loopback
pair (and one test over a real WebSocket on 127.0.0.1), on both core backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import connect

from ocppfast import v16, v21, v201
from ocppfast._core import Backend
from ocppfast._core.actions import STATION_INITIATED, STATION_SENDS
from ocppfast._core.message import dec_hook
from ocppfast.asyncio import Connection
from ocppfast.csms import BootInfo, CsmsState, DefaultCSMS, default_csms
from ocppfast.transport.loopback import loopback_pair
from ocppfast.transport.websocket import WebSocketTransport
from tests.aio import run
from tests.payloads import corpus

MODULES: dict[str, Any] = {"ocpp1.6": v16, "ocpp2.0.1": v201, "ocpp2.1": v21}
V2 = ("ocpp2.0.1", "ocpp2.1")
T0 = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)
TOKEN = "04A2B3C4D5E6F7"


@contextlib.asynccontextmanager
async def station(
    core: Backend, version: str, state: CsmsState, identity: str = "CP1"
) -> AsyncIterator[Connection]:
    """A station Connection talking to a DefaultCSMS Connection (sharing `state`)."""
    csms_end, station_end = loopback_pair(version)
    csms = Connection(
        csms_end, role="csms", handlers=DefaultCSMS(state), identity=identity, core=core
    )
    cs = Connection(station_end, role="station", core=core)
    tasks = [asyncio.create_task(csms.run()), asyncio.create_task(cs.run())]
    try:
        yield cs
    finally:
        await cs.close()
        await asyncio.gather(*tasks)


def typed(version: str, action: str, payload: Any) -> Any:
    """The typed request of `action` from its JSON payload."""
    messages = MODULES[version].messages
    return msgspec.json.decode(
        msgspec.json.encode(payload), type=messages.REQUESTS[action], dec_hook=dec_hook
    )


def aware_and_recent(value: datetime) -> bool:
    now = datetime.now(timezone.utc)
    return value.tzinfo is not None and now - timedelta(minutes=1) <= value <= now + timedelta(1)


# -- coverage ---------------------------------------------------------------------------------


def test_handles_every_station_initiated_action(version: str) -> None:
    """C16 ch. 4 and SW ch. 5 (1.6), P6/A201 (2.0.1), A21 and J21 4.2.4 (2.1 SEND): DefaultCSMS
    handles exactly the CALLs and SENDs a station may send, in each version."""
    handled = DefaultCSMS().handled_actions(version)
    assert handled == STATION_INITIATED[version] | STATION_SENDS[version]


def test_every_station_message_of_the_corpus_gets_a_valid_answer(
    core: Backend, version: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every hand-written example request of every station-initiated action (tests/messages)
    gets a CALLRESULT that passes the validator (a response breaking its schema would come back
    as an InternalError CALLERROR and raise here); 2.1's SEND is never answered (J21 4.2.4)."""
    state = CsmsState()
    messages = MODULES[version].messages
    actions = sorted(STATION_INITIATED[version])

    async def main() -> int:
        answered = 0
        async with station(core, version, state) as cs:
            for action in actions:
                for payload in corpus(version)[action]["request"]:
                    response = await cs.call(typed(version, action, payload))
                    assert isinstance(response, messages.RESPONSES[action]), action
                    answered += 1
            for action in sorted(STATION_SENDS[version]):
                for payload in corpus(version)[action]["request"]:
                    await cs.send(typed(version, action, payload))
            await cs.call(messages.HeartbeatRequest())  # the SENDs were handled before it
        return answered

    with caplog.at_level(logging.WARNING):
        answered = run(main())
    assert answered == sum(len(corpus(version)[action]["request"]) for action in actions)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    record = state.station("cp1")
    assert record is not None and not record.connected
    if version == "ocpp2.1":
        streams = record.event_streams
        sent = sum(len(p["data"]) for p in corpus(version)["NotifyPeriodicEventStream"]["request"])
        assert sum(stream.values for stream in streams.values()) == sent


# -- OCPP 1.6 ---------------------------------------------------------------------------------


def test_v16_session_boot_to_stop_with_unique_transaction_ids(core: Backend) -> None:
    """C16 4.2 (BootNotification Accepted, interval, currentTime), 4.6 (Heartbeat), 4.9
    (StatusNotification), 4.1 (Authorize Accepted), 4.8 (StartTransaction: a transactionId,
    unique across two stations of one CSMS, positive 32-bit integers), 4.7 (MeterValues kept), 4.10
    (StopTransaction: the end and the energy recorded, idTagInfo for the idTag)."""
    state = CsmsState(heartbeat_interval=120)

    async def main() -> list[int]:
        async with (
            station(core, "ocpp1.6", state, "CP1") as cp1,
            station(core, "ocpp1.6", state, "CP2") as cp2,
        ):
            boot = await cp1.call(
                v16.BootNotificationRequest(
                    charge_point_vendor="VendorX",
                    charge_point_model="Wallbox",
                    charge_point_serial_number="SN-1",
                    firmware_version="1.2.3",
                    iccid="8931",
                )
            )
            assert boot.status == v16.RegistrationStatus.Accepted
            assert boot.interval == 120
            assert aware_and_recent(boot.current_time)
            beat = await cp1.call(v16.HeartbeatRequest())
            assert aware_and_recent(beat.current_time)
            await cp1.call(
                v16.StatusNotificationRequest(
                    connector_id=1,
                    error_code=v16.ChargePointErrorCode.NoError,
                    status=v16.ChargePointStatus.Preparing,
                )
            )
            auth = await cp1.call(v16.AuthorizeRequest(id_tag=TOKEN))
            assert auth.id_tag_info.status == v16.AuthorizationStatus.Accepted

            first = await cp1.call(
                v16.StartTransactionRequest(
                    connector_id=1, id_tag=TOKEN, meter_start=1000, timestamp=T0
                )
            )
            second = await cp2.call(
                v16.StartTransactionRequest(
                    connector_id=1, id_tag="OTHER", meter_start=0, timestamp=T0
                )
            )
            third = await cp1.call(
                v16.StartTransactionRequest(
                    connector_id=2, id_tag=TOKEN, meter_start=50, timestamp=T0
                )
            )
            assert first.id_tag_info.status == v16.AuthorizationStatus.Accepted
            ids = [first.transaction_id, second.transaction_id, third.transaction_id]
            assert len(set(ids)) == 3 and all(0 < i < 2**31 for i in ids)

            await cp1.call(
                v16.MeterValuesRequest(
                    connector_id=1,
                    transaction_id=first.transaction_id,
                    meter_value=[
                        v16.MeterValue(
                            timestamp=T0 + timedelta(minutes=5),
                            sampled_value=[
                                v16.SampledValue(value="1.75", unit=v16.UnitOfMeasure.kWh),
                                v16.SampledValue(
                                    value="16.0",
                                    measurand=v16.Measurand.Current_Import,
                                    unit=v16.UnitOfMeasure.A,
                                ),
                            ],
                        )
                    ],
                )
            )
            live = state.transaction("CP1", first.transaction_id)
            assert live is not None and live.active and live.energy_wh == 750

            stop = await cp1.call(
                v16.StopTransactionRequest(
                    transaction_id=first.transaction_id,
                    meter_stop=6230,
                    timestamp=T0 + timedelta(hours=1),
                    id_tag=TOKEN,
                    reason=v16.Reason.EVDisconnected,
                )
            )
            assert stop.id_tag_info.status == v16.AuthorizationStatus.Accepted
            anonymous = await cp2.call(
                v16.StopTransactionRequest(
                    transaction_id=second.transaction_id, meter_stop=10, timestamp=T0
                )
            )
            assert anonymous.id_tag_info is msgspec.UNSET  # no idTag, no idTagInfo
        return ids

    ids = run(main())
    record = state.transactions[("cp1", ids[0])]
    assert record.ended and not record.active
    assert (record.meter_start, record.meter_stop, record.energy_wh) == (1000, 6230, 5230)
    assert record.stop_reason == "EVDisconnected"
    assert record.connector_id == 1 and record.id_token == TOKEN
    assert [s.measurand for s in record.samples] == [
        "Energy.Active.Import.Register",
        "Current.Import",
    ]
    assert state.transactions[("cp2", ids[1])].stop_reason == "Local"  # C16 4.10: assumed Local
    assert [t.transaction_id for t in state.active_transactions()] == [ids[2]]
    cp1 = state.station("cp1")
    assert cp1 is not None and cp1.boot is not None
    assert (cp1.boot.vendor, cp1.boot.model, cp1.boot.serial_number) == (
        "VendorX",
        "Wallbox",
        "SN-1",
    )
    assert cp1.boot.firmware_version == "1.2.3" and cp1.boot.extra == {"iccid": "8931"}
    assert cp1.registration_status == "Accepted" and cp1.last_heartbeat is not None
    assert cp1.connectors[(0, 1)].status == "Preparing"
    assert not cp1.connected and cp1.disconnected_at is not None


def test_v16_repeated_start_and_stop_are_idempotent(core: Backend) -> None:
    """C16 3.7.1, 4.8, 4.10: a station repeats a transaction message whose answer it did not get;
    the repeat gets the same transactionId and does not end a transaction twice. A
    StopTransaction of a transaction we never saw is answered, never refused (C16 4.10), and
    records nothing (issue 6: it may be another station's)."""
    state = CsmsState()
    start = v16.StartTransactionRequest(connector_id=1, id_tag=TOKEN, meter_start=5, timestamp=T0)

    async def main() -> tuple[int, int]:
        async with station(core, "ocpp1.6", state) as cp:
            a = await cp.call(start)
            b = await cp.call(start)
            stop = v16.StopTransactionRequest(
                transaction_id=a.transaction_id, meter_stop=25, timestamp=T0
            )
            await cp.call(stop)
            await cp.call(stop)
            await cp.call(
                v16.StopTransactionRequest(transaction_id=4242, meter_stop=99, timestamp=T0)
            )
            return a.transaction_id, b.transaction_id

    first, again = run(main())
    assert first == again
    assert len(state.transactions) == 1
    assert state.transactions[("cp1", first)].energy_wh == 20


def test_v16_token_statuses_and_data_transfer(core: Backend) -> None:
    """C16 4.1/4.8: the idTag's status comes from the state (a configured token is Blocked; a
    2.x-only status is Invalid in 1.6); C16 4.3: DataTransfer to a vendor we do not implement is
    UnknownVendorId, without data."""
    state = CsmsState(token_status={"blocked1": "Blocked", "POOR": "NoCredit"})

    async def main() -> None:
        async with station(core, "ocpp1.6", state) as cp:
            blocked = await cp.call(v16.AuthorizeRequest(id_tag="BLOCKED1"))
            assert blocked.id_tag_info.status == v16.AuthorizationStatus.Blocked
            poor = await cp.call(v16.AuthorizeRequest(id_tag="poor"))
            assert poor.id_tag_info.status == v16.AuthorizationStatus.Invalid
            start = await cp.call(
                v16.StartTransactionRequest(
                    connector_id=1, id_tag="BLOCKED1", meter_start=0, timestamp=T0
                )
            )
            assert start.id_tag_info.status == v16.AuthorizationStatus.Blocked
            assert start.transaction_id > 0  # still gets its id: the station stops it
            answer = await cp.call(
                v16.DataTransferRequest(vendor_id="com.example", message_id="x", data="1")
            )
            assert answer.status == v16.DataTransferStatus.UnknownVendorId
            assert answer.data is msgspec.UNSET

    run(main())


# -- OCPP 2.0.1 and 2.1 -----------------------------------------------------------------------


def _event(m: Any, event_type: str, seq_no: int, at: datetime, **fields: Any) -> Any:
    info = fields.pop("info", {})
    return m.TransactionEventRequest(
        event_type=getattr(m.TransactionEventEnum, event_type),
        timestamp=at,
        trigger_reason=fields.pop("trigger", m.TriggerReasonEnum.ChargingStateChanged),
        seq_no=seq_no,
        transaction_info=m.Transaction(transaction_id=fields.pop("tx", "tx-1"), **info),
        **fields,
    )


def _energy(m: Any, at: datetime, value: float, context: str, unit: str = "Wh") -> Any:
    return [
        m.MeterValue(
            timestamp=at,
            sampled_value=[
                m.SampledValue(
                    value=value,
                    context=m.ReadingContextEnum(context),
                    unit_of_measure=m.UnitOfMeasure(unit=unit),
                )
            ],
        )
    ]


@pytest.mark.parametrize("v2", V2)
def test_v2_session_boot_to_transaction_ended(core: Backend, v2: str) -> None:
    """B01 (P6 TC_B_01_CSMS, reusable state Booted: BootNotificationResponse Accepted), G01/N07
    (StatusNotification and AvailabilityState NotifyEvent recorded), C01 and E01-E06 (P6
    TC_E_01_CSMS, reusable state Authorized: AuthorizeResponse and TransactionEventResponse
    idTokenInfo.status Accepted; no idTokenInfo without an idToken); the transaction's energy
    from its Transaction.Begin and Transaction.End readings, units converted to Wh."""
    m = MODULES[v2]
    state = CsmsState(heartbeat_interval=60)
    token = m.IdToken(id_token=TOKEN, type="ISO14443")

    async def main() -> None:
        async with station(core, v2, state, "Station-9") as cs:
            boot = await cs.call(
                m.BootNotificationRequest(
                    reason=m.BootReasonEnum.PowerUp,
                    charging_station=m.ChargingStation(
                        model="DC-150", vendor_name="VendorY", firmware_version="4.0"
                    ),
                )
            )
            assert boot.status == m.RegistrationStatusEnum.Accepted and boot.interval == 60
            assert aware_and_recent(boot.current_time)
            await cs.call(
                m.StatusNotificationRequest(
                    timestamp=T0,
                    connector_status=m.ConnectorStatusEnum.Occupied,
                    evse_id=1,
                    connector_id=1,
                )
            )
            await cs.call(
                m.NotifyEventRequest(
                    generated_at=T0,
                    seq_no=0,
                    event_data=[
                        m.EventData(
                            event_id=1,
                            timestamp=T0,
                            trigger=m.EventTriggerEnum.Delta,
                            actual_value="Faulted",
                            component=m.Component(
                                name="Connector", evse=m.EVSE(id=2, connector_id=1)
                            ),
                            variable=m.Variable(name="AvailabilityState"),
                            event_notification_type=m.EventNotificationEnum.HardWiredNotification,
                        )
                    ],
                )
            )
            auth = await cs.call(m.AuthorizeRequest(id_token=token))
            assert auth.id_token_info.status == m.AuthorizationStatusEnum.Accepted
            assert auth.certificate_status is msgspec.UNSET

            started = await cs.call(
                _event(
                    m,
                    "Started",
                    0,
                    T0,
                    trigger=m.TriggerReasonEnum.Authorized,
                    id_token=token,
                    evse=m.EVSE(id=1, connector_id=1),
                    info={"charging_state": m.ChargingStateEnum.EVConnected},
                    meter_value=_energy(m, T0, 1.5, "Transaction.Begin", "kWh"),
                )
            )
            assert started.id_token_info.status == m.AuthorizationStatusEnum.Accepted
            updated = await cs.call(
                _event(
                    m,
                    "Updated",
                    1,
                    T0 + timedelta(minutes=1),
                    info={"charging_state": m.ChargingStateEnum.Charging},
                    meter_value=_energy(m, T0 + timedelta(minutes=1), 2000, "Sample.Periodic"),
                )
            )
            assert updated.id_token_info is msgspec.UNSET
            live = state.transaction("station-9", "tx-1")
            assert live is not None and live.active and live.energy_wh == 500
            assert live.charging_state == "Charging"
            await cs.call(
                _event(
                    m,
                    "Ended",
                    2,
                    T0 + timedelta(hours=1),
                    info={
                        "charging_state": m.ChargingStateEnum.Idle,
                        "stopped_reason": m.ReasonEnum.EVDisconnected,
                    },
                    meter_value=_energy(m, T0 + timedelta(hours=1), 31500, "Transaction.End"),
                )
            )

    run(main())
    record = state.transactions[("station-9", "tx-1")]
    assert record.ended and record.version == v2
    assert (record.meter_start, record.meter_stop, record.energy_wh) == (1500, 31500, 30000)
    assert (record.evse_id, record.connector_id, record.id_token) == (1, 1, TOKEN)
    assert record.started_at == T0 and record.ended_at == T0 + timedelta(hours=1)
    assert record.stop_reason == "EVDisconnected" and record.charging_state == "Idle"
    assert record.seq_nos == {0, 1, 2} and record.missing_seq_nos() == []
    cs_record = state.station("STATION-9")
    assert cs_record is not None and cs_record.identity == "Station-9"
    assert cs_record.boot == BootInfo("VendorY", "DC-150", None, "4.0", "PowerUp", {})
    assert cs_record.connectors[(1, 1)].status == "Occupied"
    assert cs_record.connectors[(2, 1)].status == "Faulted"  # from the NotifyEvent


@pytest.mark.parametrize("v2", V2)
def test_v2_transaction_events_out_of_order_and_repeated(core: Backend, v2: str) -> None:
    """P6 TC_E_31_CSMS: an Ended sent after reconnecting skips two seqNo values, whose queued
    Updated events follow; every one is answered, the transaction stays ended and its charging
    state is the Ended one. A repeated seqNo (a retry) keeps its samples once. TC_E_53_CSMS:
    every transaction may start at seqNo 0. Updated before any Started is accepted."""
    m = MODULES[v2]
    state = CsmsState()
    at = [T0 + timedelta(minutes=n) for n in range(6)]

    async def main() -> None:
        async with station(core, v2, state) as cs:
            begin = _energy(m, at[0], 100, "Transaction.Begin")
            await cs.call(_event(m, "Started", 0, at[0], meter_value=begin))
            await cs.call(_event(m, "Started", 0, at[0], meter_value=begin))  # retry
            await cs.call(
                _event(
                    m,
                    "Ended",
                    3,
                    at[3],
                    offline=True,
                    trigger=m.TriggerReasonEnum.EVCommunicationLost,
                    info={"charging_state": m.ChargingStateEnum.Idle},
                    meter_value=_energy(m, at[3], 400, "Transaction.End"),
                )
            )
            ended = state.transaction("CP1", "tx-1")
            assert ended is not None and ended.missing_seq_nos() == [1, 2]
            for seq_no in (1, 2):
                await cs.call(
                    _event(
                        m,
                        "Updated",
                        seq_no,
                        at[seq_no],
                        offline=True,
                        info={"charging_state": m.ChargingStateEnum.EVConnected},
                    )
                )
            # A second transaction starting at seqNo 0 again; one whose Started never came.
            await cs.call(_event(m, "Started", 0, at[4], tx="tx-2"))
            await cs.call(_event(m, "Updated", 7, at[5], tx="tx-3"))

    run(main())
    record = state.transactions[("cp1", "tx-1")]
    assert record.ended and record.offline and record.missing_seq_nos() == []
    assert record.charging_state == "Idle" and record.energy_wh == 300
    assert len(record.samples) == 2  # the repeated Started added nothing
    assert state.transactions[("cp1", "tx-2")].seq_nos == {0}
    orphan = state.transactions[("cp1", "tx-3")]
    assert orphan.active and orphan.started_at is None


@pytest.mark.parametrize("v2", V2)
def test_v2_answers_by_spec(core: Backend, v2: str) -> None:
    """P02.FR.06 (TC_P_02_CSMS): DataTransfer UnknownVendorId; SW A02.FR.12: SignCertificate
    Rejected by a CSMS without a CA to sign with (tests/test_csms_certificates.py has the
    signing); M: Get15118EVCertificate and GetCertificateStatus Failed (no
    certificate service yet); C07.FR.13/14 (E201 2.4.1): a contract certificate's status follows
    the token's (ContractCancelled for a blocked one); configured token statuses apply; reports
    sent in parts are assembled by requestId and seqNo."""
    m = MODULES[v2]
    state = CsmsState(token_status={"blocked": "Blocked"})
    hash_data = [
        m.OCSPRequestData(
            hash_algorithm=m.HashAlgorithmEnum.SHA256,
            issuer_name_hash="aa",
            issuer_key_hash="bb",
            serial_number="01",
            responder_url="http://ocsp.example",
        )
    ]

    async def main() -> None:
        async with station(core, v2, state) as cs:
            answer = await cs.call(m.DataTransferRequest(vendor_id="com.example", data={"a": 1}))
            assert answer.status == m.DataTransferStatusEnum.UnknownVendorId
            assert answer.data is msgspec.UNSET
            signed = await cs.call(m.SignCertificateRequest(csr="-----BEGIN CSR-----"))
            assert signed.status == m.GenericStatusEnum.Rejected
            ev = await cs.call(
                m.Get15118EVCertificateRequest(
                    iso15118_schema_version="urn:iso:15118:2:2013:MsgDef",
                    action=m.CertificateActionEnum.Install,
                    exi_request="AAAA",
                )
            )
            assert ev.status == m.Iso15118EVCertificateStatusEnum.Failed
            ocsp = await cs.call(m.GetCertificateStatusRequest(ocsp_request_data=hash_data[0]))
            assert ocsp.status == m.GetCertificateStatusEnum.Failed
            assert ocsp.ocsp_result is msgspec.UNSET
            for token, status, certificate in (
                ("good", "Accepted", "Accepted"),
                ("BLOCKED", "Blocked", "ContractCancelled"),
            ):
                auth = await cs.call(
                    m.AuthorizeRequest(
                        id_token=m.IdToken(id_token=token, type="eMAID"),
                        iso15118_certificate_hash_data=hash_data,
                    )
                )
                assert auth.id_token_info.status == status
                assert auth.certificate_status == certificate
            report = m.ReportData(
                component=m.Component(name="ChargingStation"),
                variable=m.Variable(name="Model"),
                variable_attribute=[m.VariableAttribute(value="DC-150")],
            )
            for seq_no, tbc in ((0, True), (0, True), (1, False)):
                await cs.call(
                    m.NotifyReportRequest(
                        request_id=7,
                        generated_at=T0,
                        seq_no=seq_no,
                        tbc=tbc,
                        report_data=[report],
                    )
                )

    run(main())
    record = state.station("CP1")
    assert record is not None
    parts = record.reports[("NotifyReport", 7)]
    assert parts.complete and len(parts.items) == 2 and parts.seq_nos == {0, 1}
    assert len(record.notifications["SignCertificate"]) == 1


def test_v21_periodic_event_streams_and_new_actions(core: Backend) -> None:
    """2.1 N11/N13/N15: an opened stream is Accepted, the values of NotifyPeriodicEventStream
    (a SEND, never answered: J21 4.2.4) are counted, a closed stream is marked closed;
    PullDynamicScheduleUpdate is Rejected NotFound (A21 ch. 5: this CSMS set no profile);
    GetCertificateChainStatus answers Failed for each certificate asked about."""
    state = CsmsState()

    async def main() -> None:
        async with station(core, "ocpp2.1", state) as cs:
            opened = await cs.call(
                v21.OpenPeriodicEventStreamRequest(
                    constant_stream_data=v21.ConstantStreamData(
                        id=3,
                        variable_monitoring_id=11,
                        params=v21.PeriodicEventStreamParams(interval=1, values=2),
                    )
                )
            )
            assert opened.status == v21.GenericStatusEnum.Accepted
            for pending in (1, 0):
                await cs.send(
                    v21.NotifyPeriodicEventStream(
                        id=3,
                        pending=pending,
                        basetime=T0,
                        data=[
                            v21.StreamDataElement(t=0.0, v="230.1"),
                            v21.StreamDataElement(t=1.0, v="230.4"),
                        ],
                    )
                )
            await cs.call(v21.ClosePeriodicEventStreamRequest(id=3))
            pulled = await cs.call(v21.PullDynamicScheduleUpdateRequest(charging_profile_id=5))
            assert pulled.status == v21.ChargingProfileStatusEnum.Rejected
            assert pulled.status_info.reason_code == "NotFound"
            hashes = v21.CertificateHashData(
                hash_algorithm=v21.HashAlgorithmEnum.SHA256,
                issuer_name_hash="aa",
                issuer_key_hash="bb",
                serial_number="01",
            )
            chain = await cs.call(
                v21.GetCertificateChainStatusRequest(
                    certificate_status_requests=[
                        v21.CertificateStatusRequestInfo(
                            certificate_hash_data=hashes,
                            source=v21.CertificateStatusSourceEnum.OCSP,
                            urls=["http://ocsp.example"],
                        )
                    ]
                )
            )
            [status] = chain.certificate_status
            assert status.status == v21.CertificateStatusEnum.Failed
            assert status.certificate_hash_data == hashes

    run(main())
    record = state.station("cp1")
    assert record is not None
    stream = record.event_streams[3]
    assert (stream.messages, stream.values, stream.pending) == (2, 4, 0)
    assert (stream.variable_monitoring_id, stream.interval, stream.values_per_message) == (
        11,
        1,
        2,
    )
    assert stream.closed_at is not None


# -- policy, factory, logs --------------------------------------------------------------------


class PendingState(CsmsState):
    def registration_status(self, identity: str, boot: BootInfo) -> str:
        return "Pending" if boot.model == "Unknown" else "Accepted"


def test_registration_policy_and_retry_interval(core: Backend) -> None:
    """C16 4.2: when the Central System does not accept, "the value of the interval field
    indicates the minimum wait time before sending a next BootNotification request": the
    state's registration policy decides, and the retry interval is given."""
    state = PendingState(heartbeat_interval=300, boot_retry_interval=30)

    async def main() -> None:
        async with station(core, "ocpp1.6", state) as cp:
            boot = await cp.call(
                v16.BootNotificationRequest(charge_point_vendor="V", charge_point_model="Unknown")
            )
            assert (boot.status, boot.interval) == (v16.RegistrationStatus.Pending, 30)
            boot = await cp.call(
                v16.BootNotificationRequest(charge_point_vendor="V", charge_point_model="M")
            )
            assert (boot.status, boot.interval) == (v16.RegistrationStatus.Accepted, 300)

    run(main())


def test_default_csms_factory_shares_one_state() -> None:
    """`default_csms(state)` makes one handler per connection, all on `state`; without a state,
    the factory's handlers still share one."""
    state = CsmsState()
    factory = default_csms(state)
    first, second = factory(), factory()
    assert first is not second and first.state is state and second.state is state
    own = default_csms()
    assert own().state is own().state
    assert isinstance(own().state, CsmsState)


def test_identity_is_the_name_of_each_connection(core: Backend) -> None:
    """`identity` (set by `connected()`) is the connection's name: the station's identity, else
    the peer's address; a DefaultCSMS that serves a second connection takes that one's."""

    async def main() -> None:
        state = CsmsState()
        handlers = DefaultCSMS(state)
        for identity in ("CP1", ""):
            csms_end, station_end = loopback_pair("ocpp1.6")
            csms = Connection(
                csms_end, role="csms", handlers=handlers, identity=identity, core=core
            )
            cs = Connection(station_end, role="station", core=core)
            tasks = [asyncio.create_task(csms.run()), asyncio.create_task(cs.run())]
            await cs.call(v16.HeartbeatRequest())
            assert handlers.identity == csms.name == (identity or csms_end.remote_address)
            record = state.stations[csms.name.casefold()]
            assert record.last_heartbeat is not None and record.connections == 1
            await cs.close()
            await asyncio.gather(*tasks)
            assert record.connections == 0

    run(main())


def test_logs_events_at_info_and_id_tokens_at_debug_only(
    core: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """The log (logger "ocppfast.csms"): one INFO line for the boot, the status change, the
    transaction start and its end with its energy; id tokens (personal data) never at INFO."""
    state = CsmsState()

    async def main() -> int:
        async with station(core, "ocpp1.6", state) as cp:
            await cp.call(
                v16.BootNotificationRequest(
                    charge_point_vendor="VendorX", charge_point_model="M", firmware_version="9"
                )
            )
            for _ in range(2):  # the second is no change: DEBUG only
                await cp.call(
                    v16.StatusNotificationRequest(
                        connector_id=1,
                        error_code=v16.ChargePointErrorCode.NoError,
                        status=v16.ChargePointStatus.Charging,
                    )
                )
            await cp.call(v16.AuthorizeRequest(id_tag=TOKEN))
            start = await cp.call(
                v16.StartTransactionRequest(
                    connector_id=1, id_tag=TOKEN, meter_start=10, timestamp=T0
                )
            )
            await cp.call(
                v16.StopTransactionRequest(
                    transaction_id=start.transaction_id,
                    meter_stop=1510,
                    timestamp=T0,
                    id_tag=TOKEN,
                )
            )
        return int(start.transaction_id)

    with caplog.at_level(logging.DEBUG, logger="ocppfast.csms"):
        tx = run(main())
    ours = [r for r in caplog.records if r.name == "ocppfast.csms"]
    info = [r.getMessage() for r in ours if r.levelno == logging.INFO]
    assert info == [
        "CP1: boot (ocpp1.6): vendor VendorX, model M, firmware 9, serial -: Accepted",
        "CP1: connector 1 Charging",
        f"CP1: transaction {tx} started on connector 1 (meter 10 Wh)",
        f"CP1: transaction {tx} ended (Local): 1500 Wh",
    ]
    assert any(TOKEN in r.getMessage() for r in ours if r.levelno == logging.DEBUG)
    assert not any(TOKEN in r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG)


# -- over a real WebSocket ------------------------------------------------------------------


def test_serves_stations_over_websocket(core: Backend) -> None:
    """J201 3.1 (the station connects to <endpoint>/<identity> with subprotocol ocpp2.0.1):
    `Server(default_csms(state))` on 127.0.0.1 answers a station's boot and transaction over a
    real socket, and the state shows the station connected, then disconnected."""
    from ocppfast.asyncio.server import Server

    state = CsmsState(heartbeat_interval=90)

    async def main() -> None:
        server = Server(default_csms(state), host="127.0.0.1", port=0, core=core)
        await server.start()
        try:
            async with connect(f"{server.url}/WS-1", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
                cs = Connection(WebSocketTransport(ws), role="station", core=core)
                task = asyncio.create_task(cs.run())
                boot = await cs.call(
                    v201.BootNotificationRequest(
                        reason=v201.BootReasonEnum.PowerUp,
                        charging_station=v201.ChargingStation(model="M", vendor_name="V"),
                    )
                )
                assert boot.status == v201.RegistrationStatusEnum.Accepted
                assert boot.interval == 90
                record = state.station("ws-1")
                assert record is not None and record.connected and record.version == "ocpp2.0.1"
                await cs.call(
                    _event(
                        v201,
                        "Started",
                        0,
                        T0,
                        meter_value=_energy(v201, T0, 0, "Transaction.Begin"),
                    )
                )
                await cs.close()
                await task
            for _ in range(500):  # the server notices the close on its own schedule
                if not record.connected:
                    break
                await asyncio.sleep(0.01)
            assert not record.connected
        finally:
            await server.stop()

    run(main())
    assert state.transactions[("ws-1", "tx-1")].active


@pytest.mark.parametrize("v2", V2)
def test_v2_meter_value_whose_multiplier_overflows_is_kept_as_text(core: Backend, v2: str) -> None:
    """The schema bounds no unit multiplier: 10**309 overflows a float. The event is still
    answered and recorded, its sample kept as text without a number, never an InternalError
    that would make the station drop the event after its retries (E13)."""
    m = MODULES[v2]
    state = CsmsState()

    async def main() -> None:
        async with station(core, v2, state) as cs:
            huge = [
                m.MeterValue(
                    timestamp=T0,
                    sampled_value=[
                        m.SampledValue(
                            value=1.0, unit_of_measure=m.UnitOfMeasure(unit="Wh", multiplier=400)
                        )
                    ],
                )
            ]
            await cs.call(_event(m, "Started", 0, T0, meter_value=huge))
        record = state.transaction("CP1", "tx-1")
        assert record is not None and [(s.text, s.value) for s in record.samples] == [("1.0", None)]

    run(main())
