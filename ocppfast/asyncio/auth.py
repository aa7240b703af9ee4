"""Station credentials for HTTP Basic authentication (security profiles 1 and 2).

The CSMS checks, before it upgrades the connection, the `Authorization: Basic` header a charging
station sends with its WebSocket handshake: the username is the station's identity, the password
the station's own secret (J16 6.2.2; SW A00.FR.202-205; 2.0.1 A00.FR.204, TC_A_01_CSMS to
TC_A_03_CSMS).

- OCPP 1.6 calls the password the AuthorizationKey: a key of 16 to 20 bytes (SW 7.2, A00.FR.205;
  J16 6.2.2 says exactly 20), configured as the hexadecimal text of those bytes (up to 40 hex
  digits; J16 6.2.2 "a 40-character hexadecimal representation of the 20-byte authorization
  key"). What goes into the header differs between the two documents: J16 6.2.2's example
  puts the raw bytes there (`Basic QUwxMDAwOgABAgMEBQYH////////////////` is "AL1000:" followed
  by the bytes 00 01 02 ... FF), while the security whitepaper (SW 2.3, Figure 1) writes
  `Basic <Base64 encoded(<ChargePointId>:<AuthorizationKey>)>`, the configuration key's value,
  i.e. the hex text. Chargers in the field do both, so for 1.6 `verify()` accepts either form,
  and the hex text in either case: each of them proves knowledge of the same key.
- OCPP 2.0.1 and 2.1 call it BasicAuthPassword: a passwordString of 16 to 40 characters, "sent as
  a UTF-8 encoded string (NOT encoded into octet string or base64)" (2.0.1 part 2 appendix
  SecurityCtrlr.BasicAuthPassword, as corrected by E201 2.19.2; 2.1 part 2 appendix: at least
  16 characters, up to the station's maxLimit, which is at least 40). It is compared as it is.

Passwords are never stored: each entry keeps a salted scrypt hash (RFC 7914) with a random
16-byte salt of its own, and hashes are compared with `hmac.compare_digest`. Nothing here logs a
password or puts one into an exception message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .._core.types import OCPP16, check_version

__all__ = [
    "BASIC_AUTH_MAX_LENGTH",
    "BASIC_AUTH_MIN_LENGTH",
    "Credentials",
    "PasswordRecord",
    "validate_password",
]

# 2.0.1 part 2 appendix, SecurityCtrlr.BasicAuthPassword: "minimum 16 and maximum 40
# characters"; 2.1: minimum 16, maximum the variable's maxLimit, "which must be at least 40".
BASIC_AUTH_MIN_LENGTH = 16
BASIC_AUTH_MAX_LENGTH = 40
# SW 7.2 / A00.FR.205: "minimal length: 16 bytes ... (20 bytes maximum, represented as a string
# of up to 40 hexadecimal digits)". J16 6.2.2 fixes the key at 20 bytes, within that range.
AUTHORIZATION_KEY_MIN_BYTES = 16
AUTHORIZATION_KEY_MAX_BYTES = 20

_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_SALT_BYTES = 16
_HASH_BYTES = 32
_SCHEME = "scrypt"


def _hex_key(password: bytes) -> bytes | None:
    """The bytes that `password` denotes when it is hexadecimal text (an AuthorizationKey as
    configured, SW 7.2), else None."""
    if not password or len(password) % 2 or not _HEX_DIGITS.issuperset(password):
        return None
    return bytes.fromhex(password.decode("ascii"))


def validate_password(
    password: str | bytes, version: str, *, max_length: int = BASIC_AUTH_MAX_LENGTH
) -> None:
    """Check that `password` is a valid Basic auth password for a station speaking `version`;
    raise ValueError saying which rule it breaks (never quoting it).

    - "ocpp1.6": an AuthorizationKey of 16 to 20 bytes (SW 7.2, A00.FR.205; J16 6.2.2), given
      either as the raw bytes or as the hexadecimal text that denotes them (32 to 40 hex digits,
      an even number; str or ASCII bytes).
    - "ocpp2.0.1", "ocpp2.1": a BasicAuthPassword of 16 to 40 characters (2.0.1 / 2.1 part 2
      appendix, SecurityCtrlr.BasicAuthPassword), as str or UTF-8 bytes, without control
      characters. `max_length` raises the upper bound for a 2.1 station whose maxLimit for
      BasicAuthPassword is larger (2.1 only: in 2.0.1 it is 40).
    """
    version = check_version(version)
    if version == OCPP16:
        raw = password.encode("ascii", "replace") if isinstance(password, str) else password
        key = _hex_key(raw)
        if key is not None:
            if not AUTHORIZATION_KEY_MIN_BYTES <= len(key) <= AUTHORIZATION_KEY_MAX_BYTES:
                raise ValueError(
                    f"an OCPP 1.6 AuthorizationKey in hexadecimal has "
                    f"{2 * AUTHORIZATION_KEY_MIN_BYTES} to {2 * AUTHORIZATION_KEY_MAX_BYTES} "
                    f"digits (16 to 20 bytes, SW 7.2), not {len(raw)}"
                )
            return
        if isinstance(password, str):
            raise ValueError(
                "an OCPP 1.6 AuthorizationKey given as text must be hexadecimal, an even number "
                "of digits (SW 7.2, J16 6.2.2); pass raw key bytes as bytes"
            )
        if not AUTHORIZATION_KEY_MIN_BYTES <= len(raw) <= AUTHORIZATION_KEY_MAX_BYTES:
            raise ValueError(
                f"an OCPP 1.6 AuthorizationKey has {AUTHORIZATION_KEY_MIN_BYTES} to "
                f"{AUTHORIZATION_KEY_MAX_BYTES} bytes (SW 7.2, A00.FR.205), not {len(raw)}"
            )
        return
    if version != "ocpp2.1" and max_length != BASIC_AUTH_MAX_LENGTH:
        raise ValueError(f"max_length can only be raised for ocpp2.1, not for {version}")
    if max_length < BASIC_AUTH_MAX_LENGTH:
        raise ValueError(f"max_length is at least {BASIC_AUTH_MAX_LENGTH} (2.1 part 2 appendix)")
    if isinstance(password, bytes):
        try:
            text = password.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(
                "a BasicAuthPassword is a UTF-8 string (2.x part 2 appendix), "
                "and these bytes are not UTF-8"
            ) from None
    else:
        text = password
    if not BASIC_AUTH_MIN_LENGTH <= len(text) <= max_length:
        raise ValueError(
            f"a BasicAuthPassword has {BASIC_AUTH_MIN_LENGTH} to {max_length} characters "
            f"(SecurityCtrlr.BasicAuthPassword), not {len(text)}"
        )
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise ValueError("a BasicAuthPassword has no control characters (passwordString)")


@dataclass(frozen=True)
class PasswordRecord:
    """What the store keeps of one password: its salted scrypt hashes, never the password.

    `digest` hashes the password as it was given (as UTF-8 when it was text); `key_digest`,
    only for a password that is hexadecimal text, hashes the bytes it denotes, so that a 1.6
    station may present its AuthorizationKey in either form (module docstring). `encode()` /
    `decode()` give a one-line text form for persisting the store.
    """

    salt: bytes
    digest: bytes
    key_digest: bytes | None
    n: int
    r: int
    p: int

    def encode(self) -> str:
        """`scrypt$n$r$p$salt$digest$key_digest` (base64 fields; `-` for no key digest)."""
        b64 = base64.b64encode
        key = b64(self.key_digest).decode("ascii") if self.key_digest is not None else "-"
        return "$".join(
            (
                _SCHEME,
                str(self.n),
                str(self.r),
                str(self.p),
                b64(self.salt).decode("ascii"),
                b64(self.digest).decode("ascii"),
                key,
            )
        )

    @classmethod
    def decode(cls, text: str) -> PasswordRecord:
        """The record `encode()` wrote; ValueError when `text` is not one."""
        parts = text.split("$")
        if len(parts) != 7 or parts[0] != _SCHEME:
            raise ValueError("not an encoded ocppfast password record")
        try:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt = base64.b64decode(parts[4], validate=True)
            digest = base64.b64decode(parts[5], validate=True)
            key = None if parts[6] == "-" else base64.b64decode(parts[6], validate=True)
        except ValueError as exc:  # binascii.Error is a ValueError
            raise ValueError(f"malformed password record: {exc}") from None
        _check_cost(n, r, p)
        if len(salt) < _SALT_BYTES or not digest:
            raise ValueError("malformed password record: salt or digest too short")
        return cls(salt, digest, key, n, r, p)

    def _hash(self, password: bytes) -> bytes:
        return _scrypt(password, self.salt, self.n, self.r, self.p)


def _check_cost(n: int, r: int, p: int) -> None:
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        raise ValueError("scrypt cost: n must be a power of 2 above 1, r and p at least 1")


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # scrypt needs 128 * n * r bytes (RFC 7914 section 6 / OpenSSL); leave headroom for p.
    maxmem = 128 * n * r * (p + 1) + (1 << 20)
    return hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, dklen=_HASH_BYTES, maxmem=max(maxmem, 32 << 20)
    )


class Credentials:
    """An in-memory store of the stations' Basic auth passwords, keyed by case-folded identity
    (identities are identifierStrings, which compare case-insensitively: J201 3.1.1).

    `required`: every station must authenticate (an identity without a password is refused);
    when False, only the identities that have a password must, and the others connect without
    one (what a CSMS whose operator sets passwords station by station needs).

    `n`, `r`, `p` are the scrypt costs of new entries (RFC 7914): the default (2**14, 8, 1)
    takes some 40 ms and 16 MiB per hash. `verify()` is CPU-bound; the server runs it in a
    worker thread. A successful check is remembered (as a keyed hash of the password under a
    per-process random key, in memory only) until the entry changes, so a station that
    reconnects costs one HMAC rather than one scrypt.

    The store is safe to read from worker threads while the event loop thread changes it.
    """

    def __init__(self, *, n: int = 1 << 14, r: int = 8, p: int = 1, required: bool = True) -> None:
        _check_cost(n, r, p)
        self.required = required
        self._cost = (n, r, p)
        self._records: dict[str, PasswordRecord] = {}
        # Password rotation (SW A01): the new password of a station, accepted alongside the
        # current one until the station has authenticated with it (`promote`).
        self._pending: dict[str, PasswordRecord] = {}
        #: Called (on the thread that calls `promote`) with the identity whose pending password
        #: became its password: a stored CSMS state writes it.
        self.promoted: Callable[[str], None] | None = None
        self._verified: dict[str, bytes] = {}
        self._cache_key = os.urandom(32)
        self._lock = threading.Lock()
        # Checking an unknown identity costs as much as a known one, so response times do not
        # tell which identities exist.
        self._decoy = PasswordRecord(
            os.urandom(_SALT_BYTES), os.urandom(_HASH_BYTES), os.urandom(_HASH_BYTES), n, r, p
        )

    validate_password = staticmethod(validate_password)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, identity: object) -> bool:
        return isinstance(identity, str) and self.known(identity)

    def __repr__(self) -> str:
        return f"<Credentials: {len(self._records)} identities>"

    def identities(self) -> list[str]:
        """The case-folded identities that have a password."""
        return list(self._records)

    def known(self, identity: str) -> bool:
        """Whether `identity` (case-insensitively) has a password."""
        return identity.casefold() in self._records

    def has_any(self, identity: str) -> bool:
        """Whether `identity` has a password or a pending new one."""
        folded = identity.casefold()
        return folded in self._records or folded in self._pending

    def set_password(
        self, identity: str, password: str | bytes, *, version: str | None = None
    ) -> None:
        """Set (or replace) the password of `identity`; text is taken as UTF-8.

        With `version`, the password is first checked against that version's rules
        (`validate_password`), raising ValueError. Replacing a password makes the old one
        invalid at once (SW A01: the Central System "no longer accept[s] the credentials
        previously used").
        """
        if not identity:
            raise ValueError("an identity is not empty")
        self.set_record(identity, self.hash_password(password, version=version))

    def hash_password(self, password: str | bytes, *, version: str | None = None) -> PasswordRecord:
        """A new record (salted scrypt hash) of `password` at this store's cost, for
        `set_record()`; text is taken as UTF-8. With `version`, the password is first checked
        against that version's rules (`validate_password`), raising ValueError. CPU-bound
        (tens of ms): run it in a worker thread from the event loop."""
        if version is not None:
            validate_password(password, version)
        raw = password.encode("utf-8") if isinstance(password, str) else bytes(password)
        if not raw:
            raise ValueError("a password is not empty")
        n, r, p = self._cost
        salt = os.urandom(_SALT_BYTES)
        key = _hex_key(raw)
        return PasswordRecord(
            salt,
            _scrypt(raw, salt, n, r, p),
            _scrypt(key, salt, n, r, p) if key is not None else None,
            n,
            r,
            p,
        )

    def set_record(self, identity: str, record: PasswordRecord) -> None:
        """Store a record as `records()` gave it (e.g. when loading a persisted store)."""
        folded = identity.casefold()
        with self._lock:
            self._records[folded] = record
            self._pending.pop(folded, None)  # the operator's choice ends a rotation
            self._verified.pop(folded, None)

    def set_pending(self, identity: str, record: PasswordRecord | None) -> None:
        """Rotation (SW A01): accept `record` as well as the current password of `identity`
        until the station authenticates with it (`promote`); None forgets it (the station
        rejected the new password: A01.FR.03 keeps the old one)."""
        folded = identity.casefold()
        with self._lock:
            if record is None:
                self._pending.pop(folded, None)
            else:
                self._pending[folded] = record

    def pending(self, identity: str) -> PasswordRecord | None:
        """The new password of `identity` not yet used by the station, if any."""
        return self._pending.get(identity.casefold())

    def promote(self, identity: str) -> bool:
        """The station authenticated with its pending password: it becomes its password and
        the old one is forgotten (SW A01: the CSMS "no longer accept[s] the credentials
        previously used"). Return whether there was one."""
        folded = identity.casefold()
        with self._lock:
            record = self._pending.pop(folded, None)
            if record is None:
                return False
            self._records[folded] = record
            self._verified.pop(folded, None)
        if self.promoted is not None:
            self.promoted(identity)
        return True

    def record(self, identity: str) -> PasswordRecord | None:
        """The record of `identity`'s password (case-insensitively), if it has one."""
        return self._records.get(identity.casefold())

    def records(self) -> Iterator[tuple[str, PasswordRecord]]:
        """Each (case-folded identity, record), for persisting the store."""
        return iter(list(self._records.items()))

    def remove(self, identity: str) -> bool:
        """Forget the password of `identity`; return whether it had one."""
        folded = identity.casefold()
        with self._lock:
            self._verified.pop(folded, None)
            self._pending.pop(folded, None)
            return self._records.pop(folded, None) is not None

    def check(self, identity: str, password: bytes, *, version: str | None = None) -> int:
        """Like `verify`, telling which password matched: 1 the current one, 2 the pending
        new one of a rotation (the caller then `promote`s it), 0 neither."""
        folded = identity.casefold()
        current = folded in self._records
        if (current or folded not in self._pending) and self.verify(
            identity, password, version=version
        ):
            return 1
        pending = self._pending.get(folded)
        if pending is not None and self._matches(pending, password, version):
            return 2
        return 0

    def verify(self, identity: str, password: bytes, *, version: str | None = None) -> bool:
        """Whether `password` (the bytes after the first ':' of the decoded Basic credentials)
        is the password of `identity`.

        For an OCPP 1.6 station (`version="ocpp1.6"`, or None when unknown) the
        AuthorizationKey is accepted as raw bytes or as hexadecimal text in either case (see
        the module docstring); for 2.x the password must match exactly. An unknown identity
        takes as long as a wrong password and returns False.
        """
        folded = identity.casefold()
        record = self._records.get(folded)
        lenient = version is None or version == OCPP16
        if record is None:
            record, folded = self._decoy, ""
        cache_tag = hmac.new(
            self._cache_key, folded.encode("utf-8") + b"\0" + bytes([lenient]) + password, "sha256"
        ).digest()
        seen = self._verified.get(folded)
        if folded and seen is not None and hmac.compare_digest(seen, cache_tag):
            return True
        ok = self._matches(record, password, version)
        if ok and folded:
            with self._lock:
                # Only remember it if the entry was not replaced meanwhile.
                if self._records.get(folded) is record:
                    self._verified[folded] = cache_tag
        return ok

    @staticmethod
    def _matches(record: PasswordRecord, password: bytes, version: str | None) -> bool:
        lenient = version is None or version == OCPP16
        ok = hmac.compare_digest(record._hash(password), record.digest)
        if lenient and not ok:
            key = _hex_key(password)
            targets = [record.digest] if record.key_digest is None else [record.key_digest]
            if key is not None:  # hex text of the key: compare the bytes it denotes
                ok = any(hmac.compare_digest(record._hash(key), t) for t in targets)
            elif record.key_digest is not None:  # raw key bytes against a hex-text password
                ok = hmac.compare_digest(record._hash(password), record.key_digest)
        return ok
