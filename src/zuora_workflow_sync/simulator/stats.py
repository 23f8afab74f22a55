"""Request accounting for the admin API: counts by tenant, route and status, and in-flight peaks.

Plain dict increments on the event loop thread; cheap enough for the hot path.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

UNAUTHENTICATED = "-"
DROPPED = "dropped"


class Stats:
    """Counters since start or the last reset."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero the counters. Requests still in flight stay in `in_flight` so `leave` balances,
        but their outcome is not recorded: a test's counts never hold the tail of the one before
        (a request a killed worker left in a latency fault completes after the reset)."""
        self.generation: int = getattr(self, "generation", 0) + 1
        self.in_flight: int = getattr(self, "in_flight", 0)
        self.requests: defaultdict[str, defaultdict[str, defaultdict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(int))
        )
        self.tokens_issued: defaultdict[str, int] = defaultdict(int)
        self.too_many_requests: defaultdict[str, int] = defaultdict(int)
        self.max_in_flight = self.in_flight
        self.tenant_max_in_flight: defaultdict[str, int] = defaultdict(int)

    def enter(self) -> int:
        """Count a request in; returns the generation to hand to `record`."""
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        return self.generation

    def leave(self) -> None:
        self.in_flight -= 1

    def tenant_in_flight(self, tenant: str, in_flight: int) -> None:
        if in_flight > self.tenant_max_in_flight[tenant]:
            self.tenant_max_in_flight[tenant] = in_flight

    def record(self, tenant: str | None, route: str, status: int | str, generation: int) -> None:
        """Count a completed request, unless it entered before the last reset."""
        if generation != self.generation:
            return
        name = tenant or UNAUTHENTICATED
        self.requests[name][route][str(status)] += 1
        if status == 429:
            self.too_many_requests[name] += 1

    def snapshot(self) -> dict[str, Any]:
        tenants = sorted(set(self.requests) | set(self.tokens_issued))
        return {
            "tenants": {name: self._tenant(name) for name in tenants},
            "totals": {
                "requests": sum(self._total(name) for name in self.requests),
                "tokens_issued": sum(self.tokens_issued.values()),
                "too_many_requests": sum(self.too_many_requests.values()),
            },
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }

    def _total(self, tenant: str) -> int:
        return sum(sum(by_status.values()) for by_status in self.requests[tenant].values())

    def _tenant(self, name: str) -> dict[str, Any]:
        routes: dict[str, defaultdict[str, int]] = self.requests.get(name, {})
        return {
            "requests": {route: dict(by_status) for route, by_status in routes.items()},
            "total": self._total(name) if name in self.requests else 0,
            "tokens_issued": self.tokens_issued.get(name, 0),
            "too_many_requests": self.too_many_requests.get(name, 0),
            "max_in_flight": self.tenant_max_in_flight.get(name, 0),
        }
