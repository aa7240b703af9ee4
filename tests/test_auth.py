"""Credentials: the store of the stations' HTTP Basic auth passwords (security profile 1).

These tests use a low scrypt cost to stay fast; the cost is a parameter of the store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading

import pytest

from ocppfast.asyncio.auth import Credentials, PasswordRecord, validate_password

FAST = {"n": 1 << 8, "r": 8, "p": 1}
# J16 6.2.2's example: identity "AL1000", authorization key 0001020304050607FFFF...FF.
J16_KEY_HEX = "0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"
J16_KEY = bytes.fromhex(J16_KEY_HEX)
J16_HEADER = "Basic QUwxMDAwOgABAgMEBQYH////////////////"


def store() -> Credentials:
    return Credentials(**FAST)


def test_set_verify_remove() -> None:
    """A password verifies; a wrong one does not; removing forgets it (SW A00.FR.203)."""
    credentials = store()
    credentials.set_password("CP1", "correct-horse-battery")
    assert credentials.known("CP1")
    assert "CP1" in credentials and len(credentials) == 1
    assert credentials.verify("CP1", b"correct-horse-battery")
    assert not credentials.verify("CP1", b"correct-horse-batterY")
    assert not credentials.verify("CP1", b"")
    assert credentials.remove("CP1")
    assert not credentials.remove("CP1")
    assert not credentials.known("CP1")
    assert not credentials.verify("CP1", b"correct-horse-battery")


def test_identities_are_case_insensitive() -> None:
    """Identities are identifierStrings, compared case-insensitively (J201 3.1.1)."""
    credentials = store()
    credentials.set_password("Station-A", "0123456789abcdefXYZ")
    assert credentials.known("STATION-a")
    assert credentials.verify("station-A", b"0123456789abcdefXYZ")
    assert credentials.identities() == ["station-a"]
    credentials.set_password("STATION-A", "another-password-16")
    assert not credentials.verify("Station-A", b"0123456789abcdefXYZ")
    assert credentials.verify("Station-A", b"another-password-16")


def test_unknown_identity_is_refused() -> None:
    """An unknown identity never verifies (and costs a hash too, see the store's decoy)."""
    credentials = store()
    assert not credentials.verify("nobody", b"whatever-password")
    assert not credentials.verify("nobody", J16_KEY_HEX.encode(), version="ocpp1.6")


def test_stored_as_salted_hashes_only() -> None:
    """Passwords are kept only as scrypt hashes with a random 16-byte salt per entry: the same
    password gives different records, and no record holds the password."""
    credentials = store()
    password = "the-same-password-twice"
    credentials.set_password("A", password)
    credentials.set_password("B", password)
    records = dict(credentials.records())
    a, b = records["a"], records["b"]
    assert len(a.salt) == 16 and a.salt != b.salt
    assert a.digest != b.digest
    assert a.digest == hashlib.scrypt(password.encode(), salt=a.salt, n=a.n, r=a.r, p=a.p, dklen=32)
    for record in (a, b):
        text = record.encode()
        assert password not in text
        assert password.encode() not in repr(record).encode()
    assert password not in repr(credentials)


def test_record_round_trip() -> None:
    """A record written by encode() loads back and still verifies (for persistence)."""
    credentials = store()
    credentials.set_password("CP1", J16_KEY_HEX)
    identity, record = next(credentials.records())
    loaded = PasswordRecord.decode(record.encode())
    assert loaded == record
    other = store()
    other.set_record(identity, loaded)
    assert other.verify("cp1", J16_KEY, version="ocpp1.6")
    for bad in ("", "scrypt$1$2", "md5$1$1$1$a$b$-", "scrypt$3$8$1$AAAA$AAAA$-"):
        with pytest.raises(ValueError):
            PasswordRecord.decode(bad)


def test_j16_authorization_key_both_header_forms() -> None:
    """J16 6.2.2 puts the raw 20-byte key in the header (its example header is checked here);
    the security whitepaper (SW 2.3 Figure 1, A00.FR.205) puts the AuthorizationKey value, the
    hex text. A 1.6 station may use either, in either case of hex digits."""
    decoded = base64.b64decode(J16_HEADER.split()[1])
    username, _, password = decoded.partition(b":")
    assert username == b"AL1000" and password == J16_KEY
    for configured in (J16_KEY_HEX, J16_KEY_HEX.lower(), J16_KEY):
        credentials = store()
        credentials.set_password("AL1000", configured)
        for presented in (J16_KEY, J16_KEY_HEX.encode(), J16_KEY_HEX.lower().encode()):
            assert credentials.verify("AL1000", presented, version="ocpp1.6"), (
                configured,
                presented,
            )
            assert credentials.verify("al1000", presented)  # version unknown: lenient
        assert not credentials.verify("AL1000", J16_KEY[:-1] + b"\x00", version="ocpp1.6")
        assert not credentials.verify("AL1000", b"00" + J16_KEY_HEX[2:-2].encode() + b"00")


def test_2x_password_compared_exactly() -> None:
    """2.x BasicAuthPassword is "sent as a UTF-8 encoded string (NOT encoded into octet string
    or base64)" (2.0.1 part 2 appendix, SecurityCtrlr.BasicAuthPassword): no hex leniency."""
    credentials = store()
    password = "ABCDEF0123456789ABCD"  # happens to be hexadecimal
    credentials.set_password("CS1", password)
    assert credentials.verify("CS1", password.encode(), version="ocpp2.0.1")
    assert not credentials.verify("CS1", password.lower().encode(), version="ocpp2.0.1")
    assert not credentials.verify("CS1", bytes.fromhex(password), version="ocpp2.1")
    utf8 = "pässwörd-with-ümlauts"
    credentials.set_password("CS2", utf8)
    assert credentials.verify("CS2", utf8.encode("utf-8"), version="ocpp2.1")
    assert not credentials.verify("CS2", utf8.encode("latin-1"), version="ocpp2.1")


def test_validate_password_16() -> None:
    """1.6 AuthorizationKey: 16 to 20 bytes (SW 7.2, A00.FR.205; J16 6.2.2 says 20), as raw bytes
    or as their hexadecimal text (32 to 40 digits)."""
    for good in (
        J16_KEY,
        J16_KEY_HEX,
        J16_KEY_HEX.lower(),
        J16_KEY_HEX.encode(),
        "ab" * 16,
        b"k" * 16,
    ):
        validate_password(good, "ocpp1.6")
    for bad in (
        "ab" * 21,  # 21 bytes
        "ab" * 15,  # 15 bytes
        J16_KEY_HEX[:-1],  # odd number of digits
        "not-hexadecimal-at-all-but-long-enough",
        b"k" * 15,
        b"k" * 21,
        "",
    ):
        with pytest.raises(ValueError):
            validate_password(bad, "ocpp1.6")


def test_validate_password_2x() -> None:
    """2.x BasicAuthPassword: 16 to 40 characters (2.0.1 part 2 appendix, E201 2.19.2); 2.1
    allows more up to the station's maxLimit (2.1 part 2 appendix)."""
    for version in ("ocpp2.0.1", "ocpp2.1"):
        validate_password("a" * 16, version)
        validate_password("a" * 40, version)
        validate_password("ü" * 16, version)
        validate_password(("x" * 20).encode(), version)
        for bad in ("a" * 15, "a" * 41, "a" * 15 + "\n", b"\xff" * 20, ""):
            with pytest.raises(ValueError):
                validate_password(bad, version)
    validate_password("a" * 64, "ocpp2.1", max_length=64)
    with pytest.raises(ValueError):
        validate_password("a" * 64, "ocpp2.0.1", max_length=64)
    with pytest.raises(ValueError):
        validate_password("a" * 20, "ocpp3")


def test_validation_errors_never_quote_the_password() -> None:
    """A refused password is never part of the error message."""
    secret = "s3cr3t-but-way-too-long-for-a-basic-auth-password"
    with pytest.raises(ValueError) as info:
        validate_password(secret, "ocpp2.0.1")
    assert secret not in str(info.value)
    with pytest.raises(ValueError) as info:
        Credentials(**FAST).set_password("CP1", secret, version="ocpp1.6")
    assert secret not in str(info.value)


def test_set_password_checks_version_rules() -> None:
    """set_password(version=...) applies validate_password first; nothing is stored on error."""
    credentials = store()
    with pytest.raises(ValueError):
        credentials.set_password("CP1", "short", version="ocpp2.0.1")
    assert not credentials.known("CP1")
    credentials.set_password("CP1", "long-enough-password", version="ocpp2.0.1")
    assert credentials.known("CP1")
    with pytest.raises(ValueError):
        credentials.set_password("", "long-enough-password")
    with pytest.raises(ValueError):
        Credentials(n=1000)


def test_compare_digest_and_cache() -> None:
    """A verified password is remembered per identity (an HMAC, not the password), and a new
    password invalidates what was remembered (SW A01: old credentials no longer accepted)."""
    credentials = store()
    credentials.set_password("CP1", "first-password-16")
    assert credentials.verify("CP1", b"first-password-16")
    tag = credentials._verified["cp1"]
    assert b"first-password-16" not in tag and len(tag) == 32
    assert hmac.compare_digest(tag, credentials._verified["cp1"])
    assert credentials.verify("CP1", b"first-password-16")  # from the cache
    credentials.set_password("CP1", "second-password-16")
    assert "cp1" not in credentials._verified
    assert not credentials.verify("CP1", b"first-password-16")


def test_verify_from_threads() -> None:
    """verify() runs in worker threads (the server's) while the store may change."""
    credentials = store()
    credentials.set_password("CP1", "threaded-password-1")
    results: list[bool] = []

    def check() -> None:
        results.append(credentials.verify("CP1", b"threaded-password-1"))

    threads = [threading.Thread(target=check) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 8
