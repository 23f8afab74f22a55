"""How each fault kind reaches the socket: error statuses, drops, slow drips, broken bodies, bombs.

Bodies imitate what a gateway or Zuora would send; the texts are not confirmed by Zuora's docs.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from collections.abc import Callable
from functools import lru_cache

from aiohttp import web

from zuora_workflow_sync.simulator.bodies import gzip_bomb, html_page, oversize_json, status_payload
from zuora_workflow_sync.simulator.faults import FaultKind, FaultRule, Route
from zuora_workflow_sync.simulator.replies import Exchange, Reply, json_reply
from zuora_workflow_sync.simulator.stats import DROPPED
from zuora_workflow_sync.simulator.views import Body

Outcome = tuple[web.StreamResponse, int | str]
Producer = Callable[[], Reply]

DEFAULT_STATUS = 503
DEFAULT_HTML_STATUS = 502
DEFAULT_RETRY_AFTER = 30
DEFAULT_OVERSIZE_BYTES = 20 * 1024 * 1024
DEFAULT_BOMB_BYTES = 256 * 1024 * 1024


async def apply_fault(rule: FaultRule, exchange: Exchange, produce: Producer) -> Outcome:
    """Answer the request as the rule says (its delay has already been slept)."""
    kind = rule.kind
    if kind is FaultKind.DROP:
        return await _drop(rule, exchange, produce)
    if kind is FaultKind.DRIP:
        return await _drip(rule, exchange, produce())
    if kind is FaultKind.MALFORMED:
        return _malformed(rule, exchange, produce())
    if kind is FaultKind.GZIP_BOMB:
        return await _gzip_bomb(rule, exchange)
    if kind is FaultKind.LATENCY:
        reply = produce()
        return exchange.respond(reply), reply.status
    reply = _error_reply(rule, exchange)
    return exchange.respond(reply), reply.status


def _error_reply(rule: FaultRule, exchange: Exchange) -> Reply:
    if rule.kind is FaultKind.TOO_MANY_REQUESTS:
        return _too_many(rule, exchange.route)
    if rule.kind is FaultKind.HTML:
        status = rule.status or DEFAULT_HTML_STATUS
        return Reply(status, Body(html_page(status)), "text/html; charset=utf-8")
    if rule.kind is FaultKind.OVERSIZE:
        body = Body(oversize_json(rule.size_bytes or DEFAULT_OVERSIZE_BYTES))
        return Reply(200, body, compressible=False)
    status = rule.status or DEFAULT_STATUS
    headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else None
    payload = rule.body if rule.body is not None else status_payload(status)
    return json_reply(status, payload, headers)


def _too_many(rule: FaultRule, route: Route) -> Reply:
    seconds = rule.retry_after if rule.retry_after is not None else DEFAULT_RETRY_AFTER
    headers = {"Retry-After": str(seconds)}
    if route is Route.TOKEN:
        headers["X-RateLimit-Remaining-minute"] = "0"
        return json_reply(429, {"message": "API rate limit exceeded"}, headers)
    headers.update({"RateLimit-Remaining": "0", "RateLimit-Reset": str(seconds)})
    message = f"API Rate limit exceeded for the minute, retry after {seconds} seconds"
    return json_reply(429, {"reasons": [{"code": 70, "message": message}]}, headers)


async def _gzip_bomb(rule: FaultRule, exchange: Exchange) -> Outcome:
    """Sent gzipped whatever the request's Accept-Encoding said, as a hostile server would."""
    reply = Reply(200, Body(b""))
    headers = exchange.response_headers(reply)
    headers["Content-Encoding"] = "gzip"
    # Built in a thread: a 256 MiB inflation takes most of a second the first time.
    body = await asyncio.to_thread(gzip_bomb, rule.size_bytes or DEFAULT_BOMB_BYTES)
    return web.Response(status=200, body=body, headers=headers), 200


def _abort(exchange: Exchange, reset: bool) -> None:
    """Close the connection: with an RST when `reset`, else a FIN after the buffered bytes."""
    transport = exchange.request.transport
    if transport is None:
        return
    if not reset:
        transport.close()
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _drop(rule: FaultRule, exchange: Exchange, produce: Producer) -> Outcome:
    if rule.variant != "mid_body":
        _abort(exchange, reset=True)
        return web.Response(status=500), DROPPED
    reply = produce()
    response = _stream(exchange, reply)
    try:
        await response.prepare(exchange.request)
        await response.write(reply.body.raw[: max(len(reply.body.raw) // 2, 1)])
    except ConnectionError:
        return response, DROPPED
    _abort(exchange, reset=False)
    return response, DROPPED


def _stream(exchange: Exchange, reply: Reply) -> web.StreamResponse:
    response = web.StreamResponse(status=reply.status, headers=exchange.response_headers(reply))
    response.content_length = len(reply.body.raw)
    return response


async def _drip(rule: FaultRule, exchange: Exchange, reply: Reply) -> Outcome:
    """The valid body, `chunk_bytes` at a time every `interval_ms` (identity encoding)."""
    response = _stream(exchange, reply)
    raw, step = reply.body.raw, rule.chunk_bytes
    try:
        await response.prepare(exchange.request)
        for start in range(0, len(raw), step):
            await response.write(raw[start : start + step])
            await asyncio.sleep(rule.interval_ms / 1000.0)
        await response.write_eof()
    except ConnectionError:
        return response, DROPPED
    return response, reply.status


def _malformed(rule: FaultRule, exchange: Exchange, reply: Reply) -> Outcome:
    variant = rule.variant or "truncated"
    content_type = (
        "text/plain; charset=utf-8" if variant == "wrong_content_type" else reply.content_type
    )
    body = _break(variant, reply.body.raw)
    broken = Reply(200, Body(body), content_type)
    headers = exchange.response_headers(broken)
    return web.Response(status=200, body=body, headers=headers), 200


def _break(variant: str, raw: bytes) -> bytes:
    breakers: dict[str, Callable[[bytes], bytes]] = {
        "truncated": lambda b: b[: max(len(b) // 2, 1)],
        "empty": lambda b: b"",
        "not_json": lambda b: b"Service temporarily unavailable; please retry.",
        "nan": lambda b: _first_number(b, b"NaN"),
        "deep_nesting": lambda b: _deep_nesting(),
        "nul_bytes": lambda b: _first_string(b, b"\\u0000"),
        "invalid_utf8": lambda b: _first_string(b, b"\xff\xfe\xfd"),
        "duplicate_keys": _duplicate_first_key,
        "wrong_content_type": lambda b: b,
    }
    return breakers[variant](raw)


def _duplicate_first_key(raw: bytes) -> bytes:
    """Repeat the top-level object's first key with a null value, ahead of the real one."""
    match = re.match(rb'\{\s*("(?:[^"\\]|\\.)*")\s*:', raw)
    return raw if match is None else b"{" + match.group(1) + b":null," + raw[1:]


def _first_number(raw: bytes, replacement: bytes) -> bytes:
    return re.sub(rb":(-?\d+)", b":" + replacement, raw, count=1)


def _first_string(raw: bytes, inserted: bytes) -> bytes:
    return re.sub(rb':"', b':"' + inserted.replace(b"\\", b"\\\\"), raw, count=1)


@lru_cache(maxsize=1)
def _deep_nesting() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000
