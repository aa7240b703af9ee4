"""Security profiles 2 and 3 end to end (issue 10): `ocppfast serve` and `ocppfast station` as
real processes over wss:// on 127.0.0.1, on both core backends, with certificates made by the
PKI API (`CertificateStore`) in a temporary directory; the fleet and the Server's profile-3
hook in-process; the README's "Security profile 3 in three commands" exactly; the options'
errors.

Test cases of OCPP 2.0.1 part 6 for a CSMS that apply (1.6 has none; SW's requirements are the
same): TC_A_04_CSMS (valid server certificate, profiles 2 and 3), TC_A_06_CSMS (TLS version too
low), TC_A_07_CSMS (valid client certificate), TC_A_08_CSMS (invalid client certificate:
unknown, CN not the identity; revoked is A00.FR.704)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import socket
import ssl
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from ocppfast._core import Backend
from ocppfast.asyncio import Server
from ocppfast.csms import default_csms
from ocppfast.security import check_station_certificate, client_context, server_context
from ocppfast.security.pki import CertificateRecord, CertificateStore
from ocppfast.station import StationConfig
from ocppfast.station.fleet import Fleet
from tests.aio import free_port, run
from tests.cli_process import CliProcess, backend_env

README = Path(__file__).resolve().parent.parent / "README.md"
READY = r"ready: point stations at (wss://\S+)/<identity> \(security profile (\d)\)"


@dataclass
class Pki:
    """The operator's CA with its server certificate (localhost, 127.0.0.1) and stations
    CP001 to CP003, and another CA (same organisation name, another key) with a CP001."""

    store: CertificateStore
    stations: dict[str, CertificateRecord]
    other: CertificateStore
    other_station: CertificateRecord

    def station_files(self, identity: str) -> tuple[str, str]:
        return self.files(self.stations[identity], self.store)

    @staticmethod
    def files(record: CertificateRecord, store: CertificateStore) -> tuple[str, str]:
        assert record.key_file is not None
        return str(store.path(record.cert_file)), str(store.path(record.key_file))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base = tmp_path_factory.mktemp("tls-e2e")
    store = CertificateStore(base / "pki")
    store.create_ca("Example CPO")
    store.issue_server(["localhost", "127.0.0.1"])
    stations = {name: store.issue_station(name) for name in ("CP001", "CP002", "CP003")}
    other = CertificateStore(base / "other")
    other.create_ca("Example CPO")
    return Pki(store, stations, other, other.issue_station("CP001"))


@contextlib.contextmanager
def serving(core: Backend, tmp_path: Path, *args: str) -> Iterator[tuple[CliProcess, str]]:
    """`ocppfast serve ARGS` on free ports in `tmp_path`, with its wss:// URL once ready."""
    with CliProcess(
        core, "serve", "--port", "0", "--api-port", "0", *args, cwd=str(tmp_path)
    ) as process:
        url = process.wait_for(READY).group(1)
        yield process, url
        assert process.count(r"ERROR|Traceback|PRIVATE KEY") == 0, process.log


def station(core: Backend, tmp_path: Path, url: str, *args: str) -> CliProcess:
    return CliProcess(core, "station", "--url", url, "--in-memory", *args, cwd=str(tmp_path))


# --------------------------------------------------------------------------------------------
# Security profile 3


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_profile_3_station_with_its_certificate_boots(
    core: Backend, pki: Pki, tmp_path: Path, version: str
) -> None:
    """TC_A_04_CSMS, TC_A_07_CSMS (A00.FR.401-405, A00.FR.409, A00.FR.410): `serve --pki`
    serves wss:// and says profile 3; the station with --ca, --cert and --key checks the CSMS's
    certificate and host name (A00.FR.411, A00.FR.412) and presents its own, and boots."""
    cert, key = pki.station_files("CP001")
    with serving(core, tmp_path, "--pki", str(pki.store.directory)) as (serve, url):
        assert url.startswith("wss://127.0.0.1:")
        assert serve.count(r"listening on wss://.*security profile 3") == 1, serve.log
        with station(
            core,
            tmp_path,
            url,
            "--id",
            "CP001",
            "--ocpp",
            version,
            "--ca",
            str(pki.store.ca_cert_path),
            "--cert",
            cert,
            "--key",
            key,
        ) as cp:
            cp.wait_for(r"TLS: security profile 3")
            serve.wait_for(rf"accepted 'CP001' \(ocpp{re.escape(version)}\)")
            serve.wait_for(r"CP001: boot .*Accepted")
            assert cp.stop() == 0
        assert cp.count(r"ERROR|Traceback|PRIVATE KEY") == 0, cp.log


def test_profile_3_refusals(core: Backend, pki: Pki, tmp_path: Path) -> None:
    """TC_A_08_CSMS (A00.FR.403-405, A00.FR.407, A00.FR.408) and A00.FR.704: station CP002's
    certificate on CP001's URL gets HTTP 403 and the serve log names the identity and why; a
    certificate of another CA fails the TLS handshake; a revoked certificate (revoked while the
    CSMS runs: the CRL is read again) gets 403. No connection is accepted."""
    ca = str(pki.store.ca_cert_path)
    with serving(
        core,
        tmp_path,
        "--tls-cert",
        str(pki.store.path("certs/server-localhost.pem")),
        "--tls-key",
        str(pki.store.path("private/server-localhost.key")),
        "--client-ca",
        ca,
        "--pki",
        str(pki.store.directory),
    ) as (serve, url):
        cert, key = pki.station_files("CP002")
        with station(
            core, tmp_path, url, "--id", "CP001", "--ca", ca, "--cert", cert, "--key", key
        ) as cp:
            cp.wait_for(r"CP001: the CSMS at \S+ refused the connection \(HTTP 403")
            serve.wait_for(
                r"refused 'CP001' from 127\.0\.0\.1:\d+: station certificate refused: the "
                r"client certificate's CN 'CP002' is not the station identity 'CP001' "
                r"\(A00\.FR\.405\) \(HTTP 403\)"
            )

        cert, key = pki.files(pki.other_station, pki.other)
        with station(
            core, tmp_path, url, "--id", "CP001", "--ca", ca, "--cert", cert, "--key", key
        ) as cp:
            # TLS 1.3: the client's handshake ends before the server has checked its
            # certificate; the server's alert (unknown CA) then ends the connection before any
            # HTTP answer. (asyncio does not log a failed handshake on the CSMS's side.)
            cp.wait_for(r"CP001: cannot connect to \S+: did not receive a valid HTTP response")

        if not pki.store.get(pki.stations["CP003"].serial).revoked:  # once per module
            pki.store.revoke(pki.stations["CP003"].serial, reason="key_compromise")
        cert, key = pki.station_files("CP003")
        with station(
            core, tmp_path, url, "--id", "CP003", "--ca", ca, "--cert", cert, "--key", key
        ) as cp:
            cp.wait_for(r"CP003: the CSMS at \S+ refused the connection \(HTTP 403")
            serve.wait_for(r"refused 'CP003' .*client certificate \(serial \w+\) is revoked")
        assert serve.count(r"accepted '") == 0, serve.log


def test_profile_3_fleet_reports_its_security_profile(core: Backend, pki: Pki) -> None:
    """The Server's `check_client` hook with `check_station_certificate` in-process, and a
    `Fleet` given a TLS context per identity and `security_profile=3`: both stations (1.6 and
    2.0.1) connect, and report SecurityProfile 3 (SW 7.6; 2.x SecurityCtrlr.SecurityProfile)."""

    async def main() -> None:
        context = server_context(
            pki.store.path("certs/server-localhost.pem"),
            pki.store.path("private/server-localhost.key"),
            client_ca=pki.store.ca_cert_path,
        )
        checked: list[str] = []

        def check(ssl_object: ssl.SSLObject | None, identity: str) -> str | None:
            checked.append(identity)
            return check_station_certificate(ssl_object, identity, store=pki.store)

        async with Server(
            default_csms(), port=0, ssl=context, check_client=check, core=core
        ) as server:
            for version, identity in (("ocpp1.6", "CP001"), ("ocpp2.0.1", "CP002")):
                cert, key = pki.station_files(identity)
                tls = client_context(pki.store.ca_cert_path, cert=cert, key=key)
                fleet = Fleet(
                    server.url,
                    StationConfig(identity=identity),
                    version,
                    core=core,
                    ssl={identity: tls}.__getitem__,
                    security_profile=3,
                )
                stop = asyncio.Event()
                running = asyncio.ensure_future(fleet.run(stop))
                await asyncio.wait_for(fleet.started.wait(), 10)
                await asyncio.wait_for(fleet.members[0].station.booted.wait(), 10)
                member = fleet.members[0]
                if version == "ocpp1.6":
                    assert member.station.security_profile == 3
                else:
                    model = member.station.device_model
                    assert model.get_int("SecurityCtrlr", "SecurityProfile") == 3
                assert member.client.password is None  # no Basic auth on profile 3
                stop.set()
                await running
        assert checked == ["CP001", "CP002"]

    run(main())


# --------------------------------------------------------------------------------------------
# Security profile 2, and TLS versions


def test_profile_2_basic_auth_over_tls(core: Backend, pki: Pki, tmp_path: Path) -> None:
    """TC_A_04_CSMS with profile 2 (A00.FR.301-308): `--tls-cert/--tls-key` and
    `--credentials`; the station with --ca and --password boots; a station without --ca (the
    system's trusted CAs, which do not hold the operator's root) fails on the unknown CA
    (A00.FR.307, A00.FR.309-310) and says so."""
    credentials = tmp_path / "credentials"
    credentials.write_text("CP001 0123456789abcdef0123\n")
    with serving(
        core,
        tmp_path,
        "--tls-cert",
        str(pki.store.path("certs/server-localhost.pem")),
        "--tls-key",
        str(pki.store.path("private/server-localhost.key")),
        "--credentials",
        str(credentials),
    ) as (serve, url):
        assert serve.count(r"TLS: security profile 2") == 1, serve.log
        with station(core, tmp_path, url, "--id", "CP001") as cp:
            cp.wait_for(r"no --ca: the CSMS's certificate is checked against this machine's")
            cp.wait_for(r"CP001: cannot connect to \S+: .*CERTIFICATE_VERIFY_FAILED")
        assert serve.count(r"accepted 'CP001'") == 0, serve.log
        with station(
            core,
            tmp_path,
            url,
            "--id",
            "CP001",
            "--ca",
            str(pki.store.ca_cert_path),
            "--password",
            "0123456789abcdef0123",
            "--ocpp",
            "1.6",
        ) as cp:
            cp.wait_for(r"TLS: security profile 2")
            serve.wait_for(r"CP001: boot .*Accepted")
            assert cp.count("0123456789abcdef0123") == 0


def _tls_1_1_client(ca: Path) -> ssl.SSLContext:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(ca)
    client.set_ciphers("DEFAULT:@SECLEVEL=0")  # else OpenSSL offers no TLS 1.1 at all
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.minimum_version = ssl.TLSVersion.TLSv1
        client.maximum_version = ssl.TLSVersion.TLSv1_1
    return client


def test_tls_1_1_client_is_refused_by_serve(core: Backend, pki: Pki, tmp_path: Path) -> None:
    """TC_A_06_CSMS (A00.FR.312-314, A00.FR.416-418): the running `ocppfast serve` ends a
    handshake that offers at most TLS 1.1; TLS 1.2 from the same client code gets through."""
    with serving(core, tmp_path, "--pki", str(pki.store.directory)) as (_, url):
        port = int(url.rsplit(":", 1)[1])
        old = _tls_1_1_client(pki.store.ca_cert_path)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            try:
                with old.wrap_socket(raw, server_hostname="localhost"):
                    pytest.fail("a TLS 1.1 handshake succeeded")
            except OSError as error:  # ssl.SSLError is one
                if "NO_PROTOCOLS" in str(error) or "NO_CIPHERS" in str(error):
                    pytest.skip(f"this OpenSSL cannot make a TLS 1.1 client: {error}")
                # The server's protocol_version alert, or (asyncio's server side) the
                # connection dropped: either way no TLS 1.1 session.
        modern = client_context(pki.store.ca_cert_path)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            modern.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


# --------------------------------------------------------------------------------------------
# The README's three commands


def test_readme_security_profile_3_in_three_commands(core: Backend, tmp_path: Path) -> None:
    """The README's "Security profile 3 in three commands", run as written in an empty
    directory (the ports aside: free ones instead of 9000 and 9001): the certificates, the
    CSMS, the station; the station boots over wss:// with its certificate. Then the renewal
    of its certificate through the API (SW A02, TC_A_11_CS): signed by the CA and installed."""
    section = README.read_text().split("## Security profile 3 in three commands", 1)[1]
    block, renewal = re.findall(r"```sh\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    lines = [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    certs, serve_line, station_line = lines
    ocppfast = [sys.executable, "-m", "ocppfast.cli"]
    for command in certs.split("&&"):
        args = shlex.split(command)
        assert args[0] == ".venv/bin/ocppfast", certs
        subprocess.run(
            [*ocppfast, *args[1:]],
            cwd=tmp_path,
            env=backend_env(core),
            check=True,
            capture_output=True,
        )
    serve_args = shlex.split(serve_line)
    station_args = shlex.split(station_line)
    assert serve_args[0] == station_args[0] == ".venv/bin/ocppfast"
    port, api_port = str(free_port()), str(free_port())
    station_args = [arg.replace(":9000", f":{port}") for arg in station_args]
    [curl] = [line for line in renewal.splitlines() if line.strip()]
    [url] = re.findall(r"http://127\.0\.0\.1:9001(/api/\S+)", curl)
    with contextlib.ExitStack() as stack:
        serve = stack.enter_context(
            CliProcess(
                core, *serve_args[1:], "--port", port, "--api-port", api_port, cwd=str(tmp_path)
            )
        )
        serve.wait_for(READY)
        cp = stack.enter_context(CliProcess(core, *station_args[1:], cwd=str(tmp_path)))
        serve.wait_for(r"accepted 'CP1'")
        serve.wait_for(r"CP1: boot .*Accepted")
        cp.wait_for(r"TLS: security profile 3")
        token = (tmp_path / "ocppfast-data" / "api-token").read_text().strip()
        request = urllib.request.Request(
            f"http://127.0.0.1:{api_port}{url}",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
        cp.wait_for(r"installed its new certificate")
        assert cp.stop() == 0
        assert serve.count(r"ERROR|Traceback") == 0, serve.log


# --------------------------------------------------------------------------------------------
# Errors that say what to do


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "PRIVATE KEY" not in result.output
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["serve", "--client-ca", "ca.pem"], "give the CSMS's certificate too"),
        (["serve", "--tls-cert", "a.pem"], "give the key of each certificate"),
        (["serve", "--pki", "nowhere"], "ocppfast certs init"),
        (["station", "--ca", "ca.pem"], "give a wss:// URL"),
        (["station", "--url", "wss://localhost:9000", "--cert", "c.pem"], "both the certificate"),
        (
            ["station", "--url", "wss://h:1", "--cert", "c", "--key", "k", "--count", "2"],
            "give --pki DIR",
        ),
    ],
)
def test_option_errors(args: list[str], says: str) -> None:
    code, out = cli(*args)
    assert code == 2, out
    assert says in " ".join(out.replace("│", " ").split()), out


def test_profile_3_refuses_credentials_and_passwords(pki: Pki, tmp_path: Path) -> None:
    """One profile per port (SW A00.FR.001): profile 3 takes no --credentials; a profile-3
    station no --password; `--pki` without the station's certificate names the command."""
    credentials = tmp_path / "credentials"
    credentials.write_text("CP001 0123456789abcdef0123\n")
    code, out = cli("serve", "--pki", str(pki.store.directory), "--credentials", str(credentials))
    assert code == 2 and "leave out --credentials" in " ".join(out.split()), out
    cert, key = pki.station_files("CP001")
    code, out = cli(
        "station", "--url", "wss://localhost:1", "--id", "CP001", "--cert", cert, "--key", key,
        "--password", "0123456789abcdef0123",
    )  # fmt: skip
    assert code == 2 and "leave out --password" in " ".join(out.split()), out
    code, out = cli(
        "station", "--url", "wss://localhost:1", "--id", "CP009", "--pki", str(pki.store.directory)
    )
    assert code == 2 and "ocppfast certs station CP009" in " ".join(out.split()), out
