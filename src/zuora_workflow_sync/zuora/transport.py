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
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from http.cookiejar import Cookie, CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import httpx
from multidict import CIMultiDict

from zuora_workflow_sync.errors import (
    ConnectionFailedError,
    ProtocolError,
    RequestTimeoutError,
)
from zuora_workflow_sync.zuora.aiohttp_transport import AiohttpTransport, done_with, raw_chunks
from zuora_workflow_sync.zuora.responses import read_body, read_stream, safe_text


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
    transport = AiohttpTransport(ssl_context=_tls_context(), max_connections=max_connections)
    client = httpx.AsyncClient(
        timeout=timeout, cookies=_NoCookies(), follow_redirects=False, transport=transport
    )
    defaults = CIMultiDict(
        (k.decode("latin-1"), v.decode("latin-1")) for k, v in client.headers.raw
    )
    _DIRECT[client] = _Direct(transport, defaults)
    return client


@dataclass(frozen=True, slots=True)
class _Direct:
    """What `get` needs to bypass httpx for a pool made by `new_http_client`: its transport,
    and the default headers httpx would have merged into each request."""

    transport: AiohttpTransport
    headers: CIMultiDict[str]


_DIRECT: weakref.WeakKeyDictionary[httpx.AsyncClient, _Direct] = weakref.WeakKeyDictionary()


async def get(
    http: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str] | None,
    headers: Mapping[str, str],
    limits: TransportLimits,
) -> RawResponse:
    """`GET url?params` with `headers`, as `exchange` sends `http.build_request(...)`.

    A pool made by `new_http_client` sends it straight through aiohttp (its transport): the
    same wire request, timeouts, body cap and errors, without httpx building a request, its
    URL, a response and their streams (~0.3 ms of CPU a request). Any other client (a test's
    mock transport), or one with event hooks, goes through httpx."""
    direct = _DIRECT.get(http)
    hooks = http.event_hooks
    if direct is None or hooks["request"] or hooks["response"]:
        return await exchange(
            http, http.build_request("GET", url, params=params, headers=headers), limits
        )
    target = f"{url}?{urlencode(params)}" if params else url  # as httpx encodes them
    started = time.monotonic()
    with _typed_errors("GET", lambda: urlsplit(target).path, limits):
        async with asyncio.timeout(limits.deadline_seconds):
            merged = direct.headers.copy()
            merged.update(headers)  # by name, whatever its case, as httpx merges them
            response = await direct.transport.get(target, merged, http.timeout)
            try:
                body = await read_stream(
                    raw_chunks(response),
                    response.headers,
                    response.status,
                    max_bytes=limits.max_body_bytes,
                )
            finally:
                done_with(response)
    return _raw(response.status, _lower_case(response), body, started)


def _lower_case(response: aiohttp.ClientResponse) -> dict[str, str]:
    """Headers by lower-case name, a repeated one joined with ", " (as httpx's `items()`)."""
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


@contextmanager
def _typed_errors(method: str, path: Callable[[], str], limits: TransportLimits) -> Iterator[None]:
    """The product's errors for a timeout or a failed connection (`path()` names the path)."""
    try:
        yield
    except TimeoutError:
        raise RequestTimeoutError(
            f"no complete response within {limits.deadline_seconds:g}s ({method} {path()})"
        ) from None
    except httpx.TimeoutException as exc:
        raise RequestTimeoutError(f"{type(exc).__name__} on {method} {path()}") from None
    except httpx.TransportError as exc:
        raise ConnectionFailedError(
            f"connection failed on {method} {path()}: "
            f"{type(exc).__name__}: {safe_text(str(exc), 200)}"
        ) from None


def _raw(status: int, headers: dict[str, str], body: bytes, started: float) -> RawResponse:
    """The response, unless it is a redirect (never followed: a ProtocolError)."""
    if 300 <= status < 400:
        location = safe_text(headers.get("location", ""), 200)
        raise ProtocolError(
            f"unexpected redirect to {location!r}; redirects are never followed",
            status=status,
            request_id=headers.get("zuora-request-id"),
        )
    return RawResponse(status, headers, body, time.monotonic() - started)


async def exchange(
    http: httpx.AsyncClient, request: httpx.Request, limits: TransportLimits
) -> RawResponse:
    """Send `request` and read the whole (bounded) body before the deadline."""
    started = time.monotonic()
    with _typed_errors(request.method, lambda: request.url.path, limits):
        async with asyncio.timeout(limits.deadline_seconds):
            response = await http.send(request, stream=True)
            try:
                body = await read_body(response, max_bytes=limits.max_body_bytes)
            finally:
                await response.aclose()
    headers = {name.lower(): value for name, value in response.headers.items()}
    return _raw(response.status_code, headers, body, started)
