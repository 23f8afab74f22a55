"""Parsing of Zuora's rate and concurrency headers into values the pacing layer can use.

`RateLimit-Limit` follows draft-polli-ratelimit-headers-02, e.g.
`2250000, 50000;w=60, 2250000;w=3600, 27000000;w=86400`: the first value is the quota of the
window closest to exhaustion, then each policy as `quota;w=seconds` (zuora-api.md 5.1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_POLICY = re.compile(r"^\s*(\d+)\s*;\s*w\s*=\s*(\d+)")
_MAX_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """One advertised window: `quota` requests per `window_seconds`."""

    quota: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """The tenant's rate-limit headroom as reported on one response."""

    limit: int | None
    remaining: int | None
    reset_seconds: float | None
    policies: tuple[RateLimitPolicy, ...] = ()


@dataclass(frozen=True, slots=True)
class ConcurrencyInfo:
    """`Concurrency-Limit-*` headers, present on some Zuora responses only."""

    limit_type: str | None
    limit: int | None
    remaining: int | None


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip().split(",")[0].strip())
    except ValueError:
        return None


def _seconds_or_none(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = float(text.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return min(seconds, _MAX_SECONDS)


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The RateLimit-* headers of a response, or None when none is present."""
    limit_header = headers.get("ratelimit-limit")
    remaining = headers.get("ratelimit-remaining")
    reset = headers.get("ratelimit-reset")
    if limit_header is None and remaining is None and reset is None:
        return None
    policies: list[RateLimitPolicy] = []
    for item in (limit_header or "").split(",")[1:]:
        match = _POLICY.match(item)
        if match:
            policies.append(RateLimitPolicy(int(match.group(1)), int(match.group(2))))
    return RateLimitInfo(
        limit=_int_or_none(limit_header),
        remaining=_int_or_none(remaining),
        reset_seconds=_seconds_or_none(reset),
        policies=tuple(policies),
    )


def parse_concurrency(headers: Mapping[str, str]) -> ConcurrencyInfo | None:
    """The Concurrency-Limit-* headers, or None when absent (the usual case on /workflows)."""
    limit = headers.get("concurrency-limit-limit")
    remaining = headers.get("concurrency-limit-remaining")
    limit_type = headers.get("concurrency-limit-type")
    if limit is None and remaining is None and limit_type is None:
        return None
    return ConcurrencyInfo(limit_type, _int_or_none(limit), _int_or_none(remaining))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    seconds = _seconds_or_none(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), _MAX_SECONDS)


def retry_after_from(headers: Mapping[str, str]) -> float | None:
    """How long a 429 asks us to wait: `Retry-After`, else `RateLimit-Reset` when exhausted."""
    retry_after = parse_retry_after(headers.get("retry-after"))
    if retry_after is not None:
        return retry_after
    info = parse_rate_limit(headers)
    if info is not None and info.reset_seconds is not None and info.remaining in (0, None):
        return info.reset_seconds
    return None
