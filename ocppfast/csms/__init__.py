"""The CSMS role: what a Central System answers to its charging stations, and what it keeps.

- `DefaultCSMS`: the handlers of one connection, answering every message a station may send in
  OCPP 1.6 (with the security extension), 2.0.1 and 2.1, permissively and validly.
- `CsmsState`: what the stations told us (boots, statuses, transactions, meter values, ...),
  shared by all connections of a server; in memory here, replaceable by a storage-backed one.
- `default_csms(state)`: the handler factory for a server.
"""

from .default import DefaultCSMS, VendorHandler, default_csms
from .state import (
    ENERGY_REGISTER,
    BootInfo,
    ConnectorStatus,
    CsmsState,
    EventStream,
    Notification,
    OperationStatus,
    Report,
    Sample,
    StationRecord,
    TransactionEventData,
    TransactionKey,
    TransactionRecord,
)

__all__ = [
    "ENERGY_REGISTER",
    "BootInfo",
    "ConnectorStatus",
    "CsmsState",
    "DefaultCSMS",
    "EventStream",
    "Notification",
    "OperationStatus",
    "Report",
    "Sample",
    "StationRecord",
    "TransactionEventData",
    "TransactionKey",
    "TransactionRecord",
    "VendorHandler",
    "default_csms",
]
