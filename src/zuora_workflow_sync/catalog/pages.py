"""Cursors of the read side's listings: an opaque, URL-safe token holding the last key seen."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from zuora_workflow_sync.errors import ConfigurationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
_MAX_CURSOR_CHARS = 200


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ConfigurationError(f"--limit must be from 1 to {MAX_LIMIT}, got {limit}")
    return limit


def encode_cursor(kind: str, key: list[int]) -> str:
    raw = json.dumps([kind, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, length: int) -> list[int]:
    """The key of a cursor made by `encode_cursor(kind, ...)`; ConfigurationError otherwise."""
    try:
        if len(cursor) > _MAX_CURSOR_CHARS or not cursor.isascii():
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value: Any = json.loads(raw)
    except (ValueError, binascii.Error):
        raise ConfigurationError("invalid --cursor: pass the next_cursor a listing gave") from None
    valid = (
        isinstance(value, list)
        and len(value) == length + 1
        and value[0] == kind
        and all(type(item) is int and 0 <= item < 2**63 for item in value[1:])
    )
    if not valid:
        raise ConfigurationError(f"invalid --cursor: not a cursor of this {kind} listing")
    return list(value[1:])
