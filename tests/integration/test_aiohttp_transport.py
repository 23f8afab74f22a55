"""The worker's HTTP pool (httpx over aiohttp) against real sockets: TLS is verified, a silent
server times out as a timeout, proxies come from the environment."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from zuora_workflow_sync.errors import ConnectionFailedError, ProtocolError, RequestTimeoutError
from zuora_workflow_sync.zuora.aiohttp_transport import AiohttpTransport, proxy_for
from zuora_workflow_sync.zuora.transport import (
    RawResponse,
    TransportLimits,
    exchange,
    get,
    new_http_client,
)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """An HTTPS server whose certificate no trusted authority signed (tmp_path/cert.pem)."""
    cert, key = _self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str, limits: TransportLimits, path: str = "httpx") -> RawResponse:
    """One GET through httpx's client (`exchange`) or straight through aiohttp (`get`)."""

    async def go() -> RawResponse:
        async with new_http_client(limits, max_connections=2) as http:
            if path == "direct":
                return await get(http, url, None, {}, limits)
            return await exchange(http, http.build_request("GET", url), limits)

    return asyncio.run(go())


class _Echo(http.server.BaseHTTPRequestHandler):
    """Records each request line and its headers; /moved answers a redirect."""

    seen: ClassVar[list[tuple[str, list[tuple[str, str]]]]] = []

    def do_GET(self) -> None:
        headers = sorted((name.lower(), value) for name, value in self.headers.items())
        _Echo.seen.append((self.requestline, headers))  # names in any case are the same
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "http://elsewhere.example/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Zuora-Request-Id", "r-1")
        self.send_header("X-Twice", "a")
        self.send_header("X-Twice", "b")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def echo_server() -> Iterator[int]:
    _Echo.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_direct_get_sends_what_httpx_sends_and_reads_the_same_response(echo_server: int) -> None:
    limits = TransportLimits(deadline_seconds=10)
    base = f"http://127.0.0.1:{echo_server}/workflows"
    headers = {"Accept": "application/json", "Accept-Encoding": "gzip", "Authorization": "B x"}
    params = {"page": "2", "version": "1.2 3"}

    async def both() -> list[RawResponse]:
        async with new_http_client(limits, max_connections=2) as http:
            through_httpx = await exchange(
                http, http.build_request("GET", base, params=params, headers=headers), limits
            )
            return [through_httpx, await get(http, base, params, headers, limits)]

    via_httpx, direct = asyncio.run(both())
    assert _Echo.seen[0] == _Echo.seen[1]
    assert _Echo.seen[1][0] == "GET /workflows?page=2&version=1.2+3 HTTP/1.1"
    assert (direct.status, direct.body, direct.request_id) == (200, b"{}", "r-1")
    assert direct.headers == via_httpx.headers
    assert direct.headers["x-twice"] == "a, b"


@pytest.mark.parametrize("path", ["httpx", "direct"])
def test_redirect_is_refused_when_a_get_is_answered_with_one(echo_server: int, path: str) -> None:
    with pytest.raises(ProtocolError, match="redirects are never followed"):
        _get(f"http://127.0.0.1:{echo_server}/moved", TransportLimits(deadline_seconds=10), path)


@pytest.mark.parametrize("path", ["httpx", "direct"])
def test_certificate_no_trusted_authority_signed_is_refused(
    tls_server: int, tmp_path: Path, path: str
) -> None:
    url = f"https://localhost:{tls_server}/workflows"
    with pytest.raises(ConnectionFailedError, match="certificate verify failed"):
        _get(url, TransportLimits(deadline_seconds=10), path)

    async def trusting() -> int:  # the same server, once its certificate is trusted
        context = ssl.create_default_context(cafile=tmp_path / "cert.pem")
        transport = AiohttpTransport(ssl_context=context, max_connections=1)
        async with httpx.AsyncClient(transport=transport) as http:
            return (await http.get(url)).status_code

    assert asyncio.run(trusting()) == 200


@pytest.mark.parametrize("path", ["httpx", "direct"])
def test_server_that_never_answers_is_a_timeout_after_the_read_timeout(
    silent_server: int, path: str
) -> None:
    limits = TransportLimits(deadline_seconds=30, read_timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError, match="ReadTimeout on GET /workflows"):
        _get(f"http://127.0.0.1:{silent_server}/workflows", limits, path)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("path", ["httpx", "direct"])
def test_server_that_never_answers_is_a_timeout_at_the_deadline(
    silent_server: int, path: str
) -> None:
    limits = TransportLimits(deadline_seconds=0.3, read_timeout_seconds=30)
    with pytest.raises(RequestTimeoutError, match=r"within 0.3s \(GET /workflows\)"):
        _get(f"http://127.0.0.1:{silent_server}/workflows", limits, path)


def test_proxy_comes_from_the_environment_unless_no_proxy_names_the_host() -> None:
    proxies = {"https": "http://proxy.example:3128", "no": "localhost,.internal.example"}
    assert proxy_for(httpx.URL("https://rest.zuora.com/workflows"), proxies) == (
        "http://proxy.example:3128"
    )
    assert proxy_for(httpx.URL("https://a.internal.example/x"), proxies) is None
    assert proxy_for(httpx.URL("https://localhost:8443/x"), proxies) is None
    assert proxy_for(httpx.URL("http://rest.zuora.com/"), proxies) is None  # no http proxy
    assert proxy_for(httpx.URL("https://rest.zuora.com/"), {}) is None
