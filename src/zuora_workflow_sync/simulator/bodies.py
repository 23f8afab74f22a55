"""Canned bodies for injected faults: Zuora-ish error JSON, an HTML error page, huge payloads.

Large bodies are built once per size and cached; a gzip bomb is built from repeated chunks.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from http import HTTPStatus
from typing import Any

_GATEWAY_MESSAGES = {
    401: "Failed to get user info",
    502: "An invalid response was received from the upstream server",
    503: "Service Temporarily Unavailable",
    504: "The upstream server is timing out",
}
_CHUNK = 1024 * 1024


def status_payload(status: int) -> Any:
    """A body for an injected status: gateway `{"message"}` or a v1 `reasons` for 500."""
    if status == 500:
        message = "An internal error occurred. Contact Zuora Global Support with the request id."
        return {"success": False, "reasons": [{"code": 50000060, "message": message}]}
    if status in _GATEWAY_MESSAGES:
        return {"message": _GATEWAY_MESSAGES[status]}
    return {"message": _phrase(status)}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def html_page(status: int) -> bytes:
    title = f"{status} {_phrase(status)}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


@lru_cache(maxsize=4)
def oversize_json(size_bytes: int) -> bytes:
    """Valid JSON of exactly `size_bytes` bytes (at least the 12-byte skeleton)."""
    prefix, suffix = b'{"data":"', b'"}'
    filler = max(size_bytes - len(prefix) - len(suffix), 0)
    return prefix + b"A" * filler + suffix


@lru_cache(maxsize=4)
def gzip_bomb(inflated_bytes: int) -> bytes:
    """A gzip member that inflates to valid JSON of about `inflated_bytes` bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(b'{"data":"')]
    chunk = b"A" * _CHUNK
    remaining = max(inflated_bytes - 11, 0)
    while remaining > 0:
        piece = chunk if remaining >= _CHUNK else chunk[:remaining]
        parts.append(compressor.compress(piece))
        remaining -= len(piece)
    parts.append(compressor.compress(b'"}'))
    parts.append(compressor.flush())
    return b"".join(parts)
