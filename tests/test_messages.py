"""The generated message types (ocppfast.v16, v201, v21): complete, current, and shaped as the
schemas say on the wire."""

from __future__ import annotations

import datetime
import hashlib
import importlib
import json
from pathlib import Path

import msgspec
import pytest

from ocppfast._core.actions import CSMS_SENDS, STATION_SENDS
from ocppfast._core.dispatcher import KNOWN_ACTIONS
from ocppfast._core.message import UNSET, CustomData, Request, Response
from ocppfast._core.types import MESSAGE_MODULES
from ocppfast.schemas import generate

from .payloads import corpus

MODULES = {version: module.rsplit(".", 1)[1] for version, module in MESSAGE_MODULES.items()}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "ocpp-spec" / "schemas"


def test_regenerating_changes_nothing() -> None:
    """The committed modules are exactly what `python -m ocppfast.schemas.generate` writes."""
    stale = [
        str(path) for path, text in generate.generate().items() if path.read_text("utf-8") != text
    ]
    assert stale == [], "run: python -m ocppfast.schemas.generate"


def _digests(root: Path) -> dict[str, str]:
    return {
        f"{version}/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest()
        for version in ("v16", "v201", "v21")
        for path in sorted((root / version).glob("*.json"))
    }


def test_packaged_schemas_are_the_official_ones() -> None:
    """ocppfast/schemas/json is a copy of the official schemas, never edited: every file has
    the SHA-256 recorded in ocppfast/schemas/SHA256SUMS (`sha256sum` of the official copy),
    and no file is missing or added."""
    recorded = {}
    for line in (generate.SCHEMA_DIR.parent / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        recorded[name] = digest
    assert _digests(generate.SCHEMA_DIR) == recorded


def test_recorded_digests_are_those_of_the_official_schemas() -> None:
    """SHA256SUMS itself matches ../shared/ocpp-spec/schemas, where that copy is at hand (not
    on CI's clean clone: there the digests committed with the repository stand for it)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/ocpp-spec is not beside the repository")
    assert _digests(SHARED) == _digests(generate.SCHEMA_DIR)


@pytest.mark.parametrize(
    ("version", "requests", "responses"),
    [("ocpp1.6", 39, 39), ("ocpp2.0.1", 64, 64), ("ocpp2.1", 91, 90)],
)
def test_every_action_has_types(version: str, requests: int, responses: int) -> None:
    """1.6 with errata and the security extension: 39 actions; 2.0.1: 64; 2.1: 90 plus the SEND
    NotifyPeriodicEventStream, which has no response. The action tables of the core agree."""
    module = importlib.import_module(f"ocppfast.{MODULES[version]}")
    assert len(module.REQUESTS) == requests and len(module.RESPONSES) == responses
    known = KNOWN_ACTIONS[version]
    assert set(module.REQUESTS) == known
    assert set(module.RESPONSES) == known - STATION_SENDS[version] - CSMS_SENDS[version]
    for action, cls in module.REQUESTS.items():
        assert issubclass(cls, Request) and action == cls.ACTION
    for action, cls in module.RESPONSES.items():
        assert issubclass(cls, Response) and action == cls.ACTION


def test_wire_names_are_the_schema_names() -> None:
    """Attributes are snake_case, the wire is exactly the schema's property names."""
    for version, folder in MODULES.items():
        module = importlib.import_module(f"ocppfast.{folder}")
        for table, suffix in ((module.REQUESTS, "Request"), (module.RESPONSES, "Response")):
            for action, cls in table.items():
                stem = action if folder == "v16" and suffix == "Request" else action + suffix
                path = generate.SCHEMA_DIR / folder / f"{stem}.json"
                if not path.exists():  # the 2.1 SEND
                    path = generate.SCHEMA_DIR / folder / f"{action}.json"
                schema = json.loads(path.read_text("utf-8"))
                assert list(cls.__struct_encode_fields__) == list(schema.get("properties", {})), (
                    version,
                    action,
                )
                assert all(name == name.lower() for name in cls.__struct_fields__)


def test_optional_fields_are_absent_never_null() -> None:
    """Unset optional fields are left out of the JSON (the specs forbid null for them)."""
    from ocppfast.v16 import BootNotificationRequest
    from ocppfast.v201 import BootNotificationRequest as Boot201
    from ocppfast.v201 import BootReasonEnum, ChargingStation

    message = BootNotificationRequest(charge_point_vendor="VendorX", charge_point_model="M1")
    assert message.firmware_version is UNSET
    assert (
        msgspec.json.encode(message) == b'{"chargePointVendor":"VendorX","chargePointModel":"M1"}'
    )
    message201 = Boot201(
        charging_station=ChargingStation(model="M1", vendor_name="VendorX"),
        reason=BootReasonEnum.PowerUp,
    )
    assert (
        msgspec.json.encode(message201)
        == b'{"chargingStation":{"model":"M1","vendorName":"VendorX"},"reason":"PowerUp"}'
    )


def test_attributes_use_python_types() -> None:
    """Enumerations are str enums (comparable to their wire value), times are aware datetimes."""
    from ocppfast.v201 import HeartbeatResponse, MeasurandEnum, PhaseEnum

    assert MeasurandEnum.Energy_Active_Import_Register == "Energy.Active.Import.Register"
    assert PhaseEnum.L1_N.value == "L1-N"
    response = msgspec.json.decode(
        b'{"currentTime":"2026-11-21T12:00:00+01:00"}', type=HeartbeatResponse
    )
    assert response.current_time == datetime.datetime(
        2026, 11, 21, 11, 0, tzinfo=datetime.timezone.utc
    )


def test_custom_data_keeps_vendor_properties() -> None:
    """2.x customData allows any vendor property beside vendorId; none is lost on a round trip."""
    from ocppfast._core.message import dec_hook
    from ocppfast.v201 import HeartbeatRequest

    data = b'{"customData":{"vendorId":"com.example","level":3,"tags":["a"]}}'
    request = msgspec.json.decode(data, type=HeartbeatRequest, dec_hook=dec_hook)
    assert isinstance(request.custom_data, CustomData)
    assert request.custom_data == {"vendorId": "com.example", "level": 3, "tags": ["a"]}
    assert msgspec.json.encode(request) == data


def test_docstrings_carry_the_schema_descriptions() -> None:
    """An editor shows the schema's description of a type; field descriptions follow each field
    in the source, with the field's constraints."""
    from ocppfast import v201

    assert "Vendor-specific device identifier." in Path(v201.datatypes.__file__).read_text()
    assert v201.ChargingStation.__doc__ is not None
    assert "The physical system where an Electrical Vehicle (EV) can be charged." in (
        v201.ChargingStation.__doc__
    )


def test_corpus_covers_every_message() -> None:
    """tests/messages has hand-written examples of every request and response, and nothing else."""
    for version, folder in MODULES.items():
        module = importlib.import_module(f"ocppfast.{folder}")
        examples = corpus(version)
        assert set(examples) == set(module.REQUESTS), version
        for action, kinds in examples.items():
            assert kinds["request"], (version, action)
            assert bool(kinds["response"]) == (action in module.RESPONSES), (version, action)
