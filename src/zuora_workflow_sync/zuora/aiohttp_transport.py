"""An httpx transport over aiohttp's connection pool: httpx's API, aiohttp's I/O.

Why: on this project's workload (small JSON bodies, a few requests in flight per job) httpx's
own transport (httpcore on anyio, h11) spends ~0.94 ms of CPU per request, aiohttp's (its C
HTTP parser, plain asyncio streams) ~0.55 ms; a worker's event loop does little else, so that
is a fifth of a sync's CPU. aiohttp is already a dependency (the simulator). Why not a library:
`httpx-aiohttp` (0.2) maps every connection error to a connect timeout, and the product's
retries tell those apart; this module is the small, exact adapter instead.

What it keeps of httpx's transport, on purpose: TLS verified with the given context, no
redirects followed (the client never asks), no cookies (aiohttp's `DummyCookieJar`), the body
handed over raw and undecoded (`zuora.responses.read_body` inflates it under a cap), httpx's
connect/read/pool timeouts, httpx's exception types (`TimeoutException` vs `TransportError`),
which `zuora.transport.exchange` turns into the product's errors, and httpx's proxies from the
environment (`HTTPS_PROXY`, `NO_PROXY`, ...), read once when the pool is made: aiohttp's own
`trust_env` reads them, and `~/.netrc`, for every request (~0.7 ms each).
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx

KEEPALIVE_SECONDS = 5.0  # httpx's default keep-alive expiry


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    """aiohttp's exceptions as the httpx ones they correspond to."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timeout") from exc
    except aiohttp.ServerTimeoutError as exc:  # includes SocketTimeoutError
        raise httpx.ReadTimeout(str(exc) or "read timeout") from exc
    except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS verification
        raise httpx.ConnectError(str(exc)) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
    except aiohttp.ClientResponseError as exc:  # a response aiohttp could not parse
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


def proxy_for(url: httpx.URL, proxies: Mapping[str, str]) -> str | None:
    """The proxy `proxies` (as `urllib.request.getproxies_environment()` reads them) name for
    `url`: by its scheme, unless `no` (`NO_PROXY`) names its host."""
    if not proxies:
        return None
    # In the standard library since Python 3.0, though not in its type stubs.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return None if bypass(url.host, proxies) else proxies.get(url.scheme)


async def raw_chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """A response body as it arrives on the wire, still encoded; httpx's errors."""
    with _as_httpx_errors():
        async for chunk in response.content.iter_any():
            yield chunk


def done_with(response: aiohttp.ClientResponse) -> None:
    """A body read to its end gives the connection back to the pool; any other is closed."""
    if response.content.at_eof():
        response.release()
    else:
        response.close()


class _Body(httpx.AsyncByteStream):
    """A response body as it arrives on the wire, still encoded."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in raw_chunks(self._response):
            yield chunk

    async def aclose(self) -> None:
        done_with(self._response)


def _client_timeout(timeout: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeout.get("pool"),
        sock_connect=timeout.get("connect"),
        sock_read=timeout.get("read"),
    )


_SKIPPED_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=AiohttpTransport(...))`; open it inside the event loop that
    will use it (the pool is made on the first request) and close it with the client.

    `connections_opened` counts the connections made so far (a pool that keeps them, keeps it
    still)."""

    def __init__(self, *, ssl_context: ssl.SSLContext, max_connections: int) -> None:
        self._ssl_context = ssl_context
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._proxies = urllib.request.getproxies_environment()
        self._timeout: tuple[httpx.Timeout, aiohttp.ClientTimeout] | None = None
        self.connections_opened = 0

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:
            tracing = aiohttp.TraceConfig()
            tracing.on_connection_create_end.append(self._opened)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    limit_per_host=0,
                    ssl=self._ssl_context,
                    keepalive_timeout=KEEPALIVE_SECONDS,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trace_configs=[tracing],
            )
        return self._session

    async def _opened(self, session: Any, context: SimpleNamespace, params: Any) -> None:
        self.connections_opened += 1

    async def get(
        self, url: str, headers: Mapping[str, str], timeout: httpx.Timeout
    ) -> aiohttp.ClientResponse:
        """`GET url` straight on the pool, without httpx's request and response objects (the
        hot path, `zuora.transport.get`): what `handle_async_request` does for a GET, with
        `headers` as httpx would have merged them and the client's `timeout`. Read the body
        with `raw_chunks`, then hand the response to `done_with`."""
        if self._timeout is None or self._timeout[0] is not timeout:
            self._timeout = (timeout, _client_timeout(timeout.as_dict()))
        proxy = proxy_for(httpx.URL(url), self._proxies) if self._proxies else None
        with _as_httpx_errors():
            return await self._pool().request(
                "GET",
                url,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout[1],
                proxy=proxy,
                skip_auto_headers=_SKIPPED_HEADERS,
            )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limits = _client_timeout(request.extensions.get("timeout", {}))
        body = request.content or None
        with _as_httpx_errors():
            response = await self._pool().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body,
                allow_redirects=False,
                timeout=limits,
                proxy=proxy_for(request.url, self._proxies),
                skip_auto_headers=_SKIPPED_HEADERS,
            )
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
