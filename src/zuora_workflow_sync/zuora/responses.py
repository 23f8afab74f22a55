"""Turning raw Zuora responses into bytes, JSON and typed errors, defensively.

The body is read from the raw stream and inflated here, with `zlib.decompressobj(max_length=)`,
rather than by httpx: httpx inflates each network chunk whole, so a 64 KiB chunk of a gzip bomb
can become tens of MiB before any size check can run. Here no more than the cap is ever inflated.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import AsyncIterator, Mapping
from typing import Any, NoReturn

import httpx

from zuora_workflow_sync.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ResponseTooLargeError,
    ServerError,
    ZuoraError,
)
from zuora_workflow_sync.zuora.ratelimit import parse_retry_after, retry_after_from

_INFLATE_STEP = 256 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_EXCERPT_CHARS = 300


async def read_body(response: httpx.Response, *, max_bytes: int) -> bytes:
    """The decoded body, or ResponseTooLargeError as soon as it would exceed `max_bytes`."""
    return await read_stream(
        response.aiter_raw(), response.headers, response.status_code, max_bytes=max_bytes
    )


async def read_stream(
    chunks: AsyncIterator[bytes], headers: Mapping[str, str], status: int, *, max_bytes: int
) -> bytes:
    """`read_body` of a body arriving as `chunks`, with its response's `headers` (looked up by
    lower-case name: give a case-insensitive mapping) and `status`."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip"):
        raise ProtocolError(f"unsupported Content-Encoding {encoding[:40]!r}")
    request_id = headers.get("zuora-request-id")
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLargeError(
            f"response declares {int(declared)} bytes, over the {max_bytes}-byte cap",
            status=status,
            request_id=request_id,
        )
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    body = bytearray()
    async for chunk in chunks:
        _append(body, chunk, inflater, max_bytes, status, request_id)
    if inflater is not None:
        _append(body, b"", inflater, max_bytes, status, request_id)
        if not inflater.eof:
            raise ProtocolError("truncated gzip body", status=status)
    return bytes(body)


def _append(
    body: bytearray,
    chunk: bytes,
    inflater: Any,
    max_bytes: int,
    status: int,
    request_id: str | None,
) -> None:
    if inflater is None:
        body.extend(chunk)
    else:
        data = chunk
        while True:
            try:
                piece = inflater.decompress(data, _INFLATE_STEP)
            except zlib.error as exc:
                raise ProtocolError("corrupt gzip body", status=status) from exc
            body.extend(piece)
            data = inflater.unconsumed_tail
            if not data or len(body) > max_bytes:
                break
    if len(body) > max_bytes:
        raise ResponseTooLargeError(
            f"response body exceeds the {max_bytes}-byte cap",
            status=status,
            request_id=request_id,
        )


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"non-standard JSON constant {name}")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # in C: a key given twice leaves the dict shorter than the pairs
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate JSON key {key[:40]!r}")
            seen.add(key)
    return result


_SPACED_KEY = re.compile(r'"[ \t\n\r]+:')


_MAX_BACKSLASH_RUN = 8


def _escaped_quote_colons(text: str) -> int | None:
    """The `":` whose quote is escaped (an odd run of backslashes before it): inside a string;
    None past runs of `_MAX_BACKSLASH_RUN` backslashes (a crafted body: the caller checks
    every object instead of scanning the text once per backslash).

    With c(k) the `":` after at least k backslashes, c(1) - c(2) + c(3) - ... counts one for
    each odd run and none for an even one; a few C-speed `str.count` calls (a regex with a
    look-behind took four times as long as parsing the document)."""
    escaped, sign, pattern = 0, 1, '\\":'
    while (found := text.count(pattern)) > 0:
        if len(pattern) > _MAX_BACKSLASH_RUN + 2:
            return None
        escaped += sign * found
        sign, pattern = -sign, "\\" + pattern
    return escaped


def _key_count(document: Any) -> int:
    """The keys of every object in a parsed document."""
    count, stack = 0, [document]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            count += len(item)
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return count


def _loads_strict(text: str) -> Any:
    """`json.loads`, refusing NaN/Infinity and an object that gives a key twice.

    The duplicate check costs a Python call per object; most documents are proven free of
    duplicates without it: with no whitespace before a colon, every key of the text ends in
    a `":`, so the text holds at least as many `":` as it gives keys (more when a string holds
    one), and a key given twice leaves the parsed objects one key short. Equal counts: no key
    was given twice. A string can hold a `":` only with its quote escaped (a quote that ends a
    string and is followed by a colon ends a key), so those are not counted: the remaining
    `":` are exactly the keys given (an export's Liquid templates and JSON-in-a-string
    parameters are full of `\\":`). Anything else is parsed again with the check on each
    object."""
    document = json.loads(text, parse_constant=_reject_constant)
    if _SPACED_KEY.search(text) is None:
        keys = _key_count(document)
        given = text.count('":')
        if given == keys:
            return document
        escaped = _escaped_quote_colons(text) if "\\" in text else None
        if escaped is not None and given - escaped == keys:
            return document
    return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)


def _reject_unstorable(document: Any) -> None:
    """NUL characters and lone surrogates (an unpaired `\\ud800` escape) cannot be stored in
    PostgreSQL text or written as UTF-8: refuse them at the edge."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("NUL character in a string")
            if not item.isascii() and _LONE_SURROGATE.search(item):
                raise ValueError("unpaired surrogate escape in a string")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_json(body: bytes, *, status: int, request_id: str | None) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no duplicate keys, no NUL, bounded nesting."""
    try:
        text = body.decode("utf-8")
        document = _loads_strict(text)
        # Strict JSON has no raw control characters in strings, and UTF-8 has no surrogates: a
        # NUL or a lone surrogate can only come from an escape, so most documents need no walk.
        if "\\u0000" in text or "\\ud" in text or "\\uD" in text:
            _reject_unstorable(document)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nesting too deep" if isinstance(exc, RecursionError) else safe_text(str(exc))
        raise ProtocolError(
            f"response is not valid JSON ({reason}): {excerpt(body)!r}",
            status=status,
            request_id=request_id,
        ) from None
    return document


def safe_text(text: str, limit: int = _EXCERPT_CHARS) -> str:
    """A remote string made safe for a log line or a message: no CR/LF or controls, bounded."""
    cleaned = _CONTROL.sub(" ", text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def excerpt(body: bytes, limit: int = 120) -> str:
    """The start of a body, decoded leniently, for error messages."""
    return safe_text(body[: limit * 4].decode("utf-8", errors="replace"), limit)


def error_message(body: bytes) -> str:
    """The human message of any of Zuora's error body families (zuora-api.md section 4)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return f"non-JSON error body: {excerpt(body)!r}" if body else "empty error body"
    found = _message_in(document) if isinstance(document, dict) else None
    return safe_text(found) if found else f"error body: {excerpt(body)!r}"


def _message_in(document: Mapping[str, Any]) -> str | None:
    for key in ("errors", "Errors", "reasons"):
        items = document.get(key)
        if isinstance(items, list) and items:
            texts = [_item_text(item) for item in items[:3]]
            return "; ".join(text for text in texts if text) or None
    message = document.get("message")
    if isinstance(message, str) and message:
        code = document.get("code")
        return f"{message} (code {code})" if code is not None else message
    return None


def _item_text(item: object) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        text = item.get("title") or item.get("message") or ""
        code = item.get("code")
        return f"{text} (code {code})" if code is not None and text else str(text)
    return ""


def error_for_status(
    status: int, headers: Mapping[str, str], body: bytes, *, token_call: bool = False
) -> ZuoraError:
    """The typed error for a non-2xx Zuora response."""
    request_id = headers.get("zuora-request-id")
    message = error_message(body)
    if status == 429:
        return RateLimitedError(
            f"Zuora rate limit: {message}",
            request_id=request_id,
            retry_after_seconds=retry_after_from(headers),
        )
    if status >= 500:
        return ServerError(
            f"Zuora server error: {message}",
            status=status,
            request_id=request_id,
            retry_after_seconds=parse_retry_after(headers.get("retry-after")),
        )
    if token_call or status == 401:
        return AuthenticationError(
            f"Zuora rejected the credentials: {message}", status=status, request_id=request_id
        )
    if status == 403:
        return PermissionDeniedError(
            f"permission denied (the Zuora user needs Workflow View Access): {message}",
            status=status,
            request_id=request_id,
        )
    if status == 404:
        return NotFoundError(f"not found: {message}", status=status, request_id=request_id)
    return BadRequestError(
        f"Zuora refused the request: {message}", status=status, request_id=request_id
    )
