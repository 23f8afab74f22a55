"""Fixtures for the pacing suite: `settings` points the coordination store at each backend in
turn (`coordination_url` of tests/backends.py: a SQLite file, or a Redis database).

Also the helpers the suite shares: canned observations, `observe`, `timed`, `Peak`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from zuora_workflow_sync.pacing import PacingGate, TenantLimits
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.zuora.gate import Observation
from zuora_workflow_sync.zuora.ratelimit import ConcurrencyInfo, RateLimitInfo


@pytest.fixture
def settings(coordination_url: str, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, coordination_url=coordination_url, http_deadline_seconds=10)


def limits(
    key: str = "customer:1",
    *,
    max_in_flight: int = 4,
    per_minute: int = 10_000,
    per_hour: int = 100_000,
    per_day: int = 1_000_000,
) -> TenantLimits:
    """Test limits: generous quotas unless a test says otherwise."""
    return TenantLimits(key, max_in_flight, per_minute, per_hour, per_day)


HEALTHY = Observation(200, RateLimitInfo(1000, 900, 30.0), None, None, 0.01)
LOW_RATE = Observation(200, RateLimitInfo(1000, 50, 30.0), None, None, 0.01)
LOW_CONCURRENCY = Observation(200, None, ConcurrencyInfo("Default", 40, 2), None, 0.01)


def too_many(retry_after: float | None) -> Observation:
    return Observation(429, RateLimitInfo(1000, 0, retry_after), None, retry_after, 0.01)


class Peak:
    """Counts requests inside their slot, and the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def hold(self, gate: PacingGate, seconds: float) -> None:
        async with gate.slot():
            self.now += 1
            self.most = max(self.most, self.now)
            await asyncio.sleep(seconds)
            self.now -= 1


async def observe(gate: PacingGate, observation: Observation) -> None:
    async with gate.slot() as slot:
        slot.observe(observation)


async def timed(call: Callable[[], Awaitable[None]]) -> float:
    started = time.monotonic()
    await call()
    return time.monotonic() - started
