"""Small valid payloads per version, for tests of the RPC rules that need real messages."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

TS = "2026-11-21T12:00:00Z"
HEARTBEAT_RESULT = {"currentTime": TS}
HEARTBEAT_RESULT_FRAME = '{"currentTime":"2026-11-21T12:00:00Z"}'


def reset(version: str) -> dict[str, Any]:
    return {"type": "Soft" if version == "ocpp1.6" else "Immediate"}


def authorize(version: str) -> dict[str, Any]:
    if version == "ocpp1.6":
        return {"idTag": "04A2B3C4D5E6F7"}
    return {"idToken": {"idToken": "04A2B3C4D5E6F7", "type": "ISO14443"}}


def status_notification(version: str) -> dict[str, Any]:
    if version == "ocpp1.6":
        return {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    return {"timestamp": TS, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}


_CORPUS_DIR = Path(__file__).parent / "messages"
_CORPUS_FILES = {"ocpp1.6": "v16.json", "ocpp2.0.1": "v201.json", "ocpp2.1": "v21.json"}


@functools.cache
def corpus(version: str) -> dict[str, dict[str, list[Any]]]:
    """The hand-written valid messages of `version`: {action: {"request": [...], "response":
    [...]}} (tests/messages/; test_messages.py checks that it covers every message,
    test_validator_differential.py that jsonschema accepts every example)."""
    data: dict[str, dict[str, list[Any]]] = json.loads(
        (_CORPUS_DIR / _CORPUS_FILES[version]).read_text("utf-8")
    )
    return data


def example(version: str, action: str, kind: str = "request") -> Any:
    """The first (minimal) hand-written example of an action's request or response."""
    return corpus(version)[action][kind][0]
