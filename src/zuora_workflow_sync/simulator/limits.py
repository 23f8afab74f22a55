"""Per-tenant rate windows and concurrency, and the token endpoint's per-IP limit.

Quotas by tenant type follow zuora-api.md 5.1; the 429 bodies and headers follow 5.1, 5.2 and 9.10.
Every request that reaches a tenant counts, failed ones included (DEV-RL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from zuora_workflow_sync.simulator.tenants import TenantType

WINDOWS = ((60, "minute"), (3600, "hour"), (86400, "day"))
DEFAULT_CONCURRENCY_LIMIT = 40
CONCURRENCY_RETRY_AFTER_SECONDS = 120
CONCURRENCY_LIMIT_CODE = 50000070
CONCURRENCY_LIMIT_MESSAGE = (
    "The total number of concurrent requests has exceeded the limit allowed by the system. "
    "Please resubmit your request later."
)


@dataclass(frozen=True)
class Quotas:
    """API-class requests allowed per minute, hour and day."""

    minute: int
    hour: int
    day: int

    def values(self) -> tuple[int, int, int]:
        return (self.minute, self.hour, self.day)


DEFAULT_QUOTAS = {
    TenantType.PRODUCTION: Quotas(50_000, 2_250_000, 27_000_000),
    TenantType.DEVELOPER_SANDBOX: Quotas(12_500, 25_000, 50_000),
    TenantType.API_SANDBOX: Quotas(2_500, 5_000, 10_000),
}


@dataclass(frozen=True)
class RateVerdict:
    """The window closest to exhaustion after counting one request."""

    allowed: bool
    limit_header: str
    remaining: int
    reset_seconds: int
    window_name: str

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": self.limit_header,
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }

    def exceeded_body(self) -> dict[str, object]:
        message = (
            f"API Rate limit exceeded for the {self.window_name}, "
            f"retry after {self.reset_seconds} seconds"
        )
        return {"reasons": [{"code": 70, "message": message}]}


class RateWindows:
    """Fixed minute/hour/day windows for one tenant, on the simulated monotonic clock."""

    __slots__ = ("_counts", "_policies", "_starts", "quotas")

    def __init__(self, quotas: Quotas) -> None:
        self.quotas = quotas
        self._policies = ", ".join(
            f"{q};w={w}" for q, (w, _) in zip(quotas.values(), WINDOWS, strict=True)
        )
        self._starts = [0.0, 0.0, 0.0]
        self._counts = [0, 0, 0]

    def count(self, now: float) -> RateVerdict:
        """Count one request and report the window closest to exhaustion."""
        best = 0
        remaining_best = math.inf
        for index, (width, _) in enumerate(WINDOWS):
            if now >= self._starts[index] + width:
                self._starts[index] = now - (now % width)
                self._counts[index] = 0
            self._counts[index] += 1
            remaining = self.quotas.values()[index] - self._counts[index]
            if remaining < remaining_best:
                best, remaining_best = index, remaining
        return self._verdict(best, now)

    def _verdict(self, index: int, now: float) -> RateVerdict:
        width, name = WINDOWS[index]
        quota = self.quotas.values()[index]
        remaining = quota - self._counts[index]
        reset = max(1, math.ceil(self._starts[index] + width - now))
        return RateVerdict(
            allowed=remaining >= 0,
            limit_header=f"{quota}, {self._policies}",
            remaining=max(remaining, 0),
            reset_seconds=reset,
            window_name=name,
        )


class ConcurrencyGate:
    """Requests in flight for one tenant; refuses entry at the limit."""

    __slots__ = ("in_flight", "limit", "max_in_flight")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.max_in_flight = 0

    def try_enter(self) -> bool:
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def headers(self) -> dict[str, str]:
        return {
            "Concurrency-Limit-Type": "Default",
            "Concurrency-Limit-Limit": str(self.limit),
            "Concurrency-Limit-Remaining": str(max(self.limit - self.in_flight, 0)),
        }


def concurrency_exceeded_body() -> dict[str, object]:
    """Body shape unconfirmed (zuora-api.md 5.2); the v1 `reasons` shape with code 50000070."""
    return {
        "success": False,
        "reasons": [{"code": CONCURRENCY_LIMIT_CODE, "message": CONCURRENCY_LIMIT_MESSAGE}],
    }


class TokenIpLimiter:
    """The AUTH class limit per client IP (100 per minute), in fixed minute windows."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}

    def count(
        self, ip: str, now: float, per_minute: int, enforced: bool
    ) -> tuple[bool, dict[str, str]]:
        """Count one token request; returns (allowed, the X-RateLimit-*-minute headers)."""
        start, used = self._windows.get(ip, (0.0, 0))
        if now >= start + 60:
            start, used = now - (now % 60), 0
        used += 1
        self._windows[ip] = (start, used)
        headers = {
            "X-RateLimit-Limit-minute": str(per_minute),
            "X-RateLimit-Remaining-minute": str(max(per_minute - used, 0)),
        }
        return (used <= per_minute or not enforced), headers

    def reset(self) -> None:
        self._windows.clear()
