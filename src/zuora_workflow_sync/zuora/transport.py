"""One HTTP exchange with Zuora under an overall deadline and a body cap, errors typed.

httpx's timeouts bound each connect and each read, so a server that drips one byte a second
never trips them; `asyncio.timeout` bounds the whole exchange (zuora-api.md 4: Zuora itself
gives up after 120 s). No redirect is followed: Zuora's API never redirects, so any 3xx is a
protocol error (and never leaks the Authorization header to another host).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from http.cookiejar import Cookie, CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from zuora_workflow_sync.errors import (
    ConnectionFailedError,
    ProtocolError,
    RequestTimeoutError,
)
from zuora_workflow_sync.zuora.aiohttp_transport import AiohttpTransport
from zuora_workflow_sync.zuora.responses import read_body, safe_text


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """Bounds of one exchange; every field is a guard against a misbehaving server."""

    deadline_seconds: float = 120.0
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    max_body_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RawResponse:
    """Status, headers (lower-cased names) and the decoded body of one exchange."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed_seconds: float

    @property
    def request_id(self) -> str | None:
        return self.headers.get("zuora-request-id")


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's verifying TLS context (certifi's CAs), built once per process: loading the CA
    bundle costs ~20 ms of CPU, which every sync's new pool would otherwise pay again."""
    return httpx.create_ssl_context(verify=True)


class _NoCookies(CookieJar):
    """A jar that keeps no cookie: Zuora's REST API authenticates by bearer token, and one
    pool serves many customers in turn (a worker thread's `JobSession`), so a cookie set in
    one customer's response must never ride along with another customer's request.

    Responses are not even parsed for cookies (the standard library's parsing and policy
    checks cost ~0.1 ms a response), and the policy refuses every domain besides."""

    def __init__(self) -> None:
        super().__init__(policy=DefaultCookiePolicy(allowed_domains=[]))

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Cookie) -> None:
        return None


def new_http_client(limits: TransportLimits, *, max_connections: int = 200) -> httpx.AsyncClient:
    """The connection pool of a worker thread: TLS verified, no redirects, no cookies, bounded
    pool; httpx's API over aiohttp's I/O (see `aiohttp_transport`)."""
    timeout = httpx.Timeout(
        connect=limits.connect_timeout_seconds,
        read=limits.read_timeout_seconds,
        write=limits.read_timeout_seconds,
        pool=limits.deadline_seconds,
    )
    return httpx.AsyncClient(
        timeout=timeout,
        cookies=_NoCookies(),
        follow_redirects=False,
        transport=AiohttpTransport(ssl_context=_tls_context(), max_connections=max_connections),
    )


async def exchange(
    http: httpx.AsyncClient, request: httpx.Request, limits: TransportLimits
) -> RawResponse:
    """Send `request` and read the whole (bounded) body before the deadline."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(limits.deadline_seconds):
            response = await http.send(request, stream=True)
            try:
                body = await read_body(response, max_bytes=limits.max_body_bytes)
            finally:
                await response.aclose()
    except TimeoutError:
        raise RequestTimeoutError(
            f"no complete response within {limits.deadline_seconds:g}s"
            f" ({request.method} {request.url.path})"
        ) from None
    except httpx.TimeoutException as exc:
        raise RequestTimeoutError(
            f"{type(exc).__name__} on {request.method} {request.url.path}"
        ) from None
    except httpx.TransportError as exc:
        raise ConnectionFailedError(
            f"connection failed on {request.method} {request.url.path}: "
            f"{type(exc).__name__}: {safe_text(str(exc), 200)}"
        ) from None
    headers = {name.lower(): value for name, value in response.headers.items()}
    if 300 <= response.status_code < 400:
        location = safe_text(headers.get("location", ""), 200)
        raise ProtocolError(
            f"unexpected redirect to {location!r}; redirects are never followed",
            status=response.status_code,
            request_id=headers.get("zuora-request-id"),
        )
    return RawResponse(response.status_code, headers, body, time.monotonic() - started)
