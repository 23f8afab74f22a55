"""Redirects are never followed: the bearer token must not travel to another host."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from zuora_workflow_sync.errors import ProtocolError
from zuora_workflow_sync.zuora import TenantCredentials, TokenCache, ZuoraClient, new_http_client

from .conftest import fast_settings


class _Redirecting(BaseHTTPRequestHandler):
    seen: list[str]

    def do_POST(self) -> None:
        body = b'{"access_token":"tok-123456789","token_type":"bearer","expires_in":3599}'
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.2:9/steal-the-token")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def redirecting_server() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    server = HTTPServer(("127.0.0.1", 0), type("Handler", (_Redirecting,), {"seen": seen}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_redirect_is_a_protocol_error_and_is_not_followed(
    redirecting_server: tuple[str, list[str]],
) -> None:
    base_url, seen = redirecting_server
    credentials = TenantCredentials(base_url, "client", SecretStr("secret-value-1"))

    async def scenario() -> None:
        async with new_http_client(fast_settings().transport) as http:
            client = ZuoraClient(
                credentials, http=http, token_cache=TokenCache(), settings=fast_settings()
            )
            await client.list_workflows()

    with pytest.raises(ProtocolError, match="redirects are never followed") as caught:
        asyncio.run(scenario())
    assert caught.value.status == 302
    assert "steal-the-token" in str(caught.value)
    assert seen == ["/workflows?page=1&page_length=50"]  # one request, never re-sent elsewhere
