"""Adaptive concurrency as pure values: what a response says about headroom, and the next limit.

Additive increase, multiplicative decrease (AIMD, as in TCP congestion control): a healthy
response adds 1/limit (so +1 per round of `limit` successes), a 429 or low headroom halves the
limit, never below 1 nor above the tenant's cap. Only a request sent after the last decrease
may decrease again, so a burst of 429s from one round of requests halves once, not per reply.
The stores apply `adjust` atomically (the Redis script mirrors it line for line).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from zuora_workflow_sync.zuora.gate import Observation

DECREASE_FACTOR = 0.5
INCREASE_STEP = 1.0
LOW_RATE_FRACTION = 0.10  # RateLimit-Remaining below 10% of the window's quota
LOW_CONCURRENCY_REMAINING = 2  # Concurrency-Limit-Remaining at or below 2 ...
LOW_CONCURRENCY_FRACTION = 0.10  # ... or at or below 10% of Concurrency-Limit-Limit
DEFAULT_PAUSE_SECONDS = 30.0  # a 429 that says neither Retry-After nor RateLimit-Reset


class Signal(StrEnum):
    """Which way a response moves the tenant's limit."""

    INCREASE = "increase"
    DECREASE = "decrease"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class Assessment:
    """What to do after one response: move the limit, and pause the tenant for a while."""

    signal: Signal
    pause_seconds: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class LimitState:
    """A tenant's adaptive limit and when (store clock, seconds) it last decreased."""

    limit: float
    decreased_at: float


def assess(observation: Observation) -> Assessment:
    """Read a response's status and headroom headers (zuora-api.md 5.1, 5.2)."""
    status = observation.status
    if status == 429:
        pause = observation.retry_after_seconds
        return Assessment(Signal.DECREASE, pause or DEFAULT_PAUSE_SECONDS, "HTTP 429")
    if status >= 400:
        return Assessment(Signal.HOLD, None, f"HTTP {status}")
    rate = observation.rate_limit
    if rate is not None and rate.remaining == 0 and rate.reset_seconds:
        return Assessment(Signal.DECREASE, rate.reset_seconds, "rate-limit window exhausted")
    low = _low_headroom(observation)
    if low is not None:
        return Assessment(Signal.DECREASE, None, low)
    return Assessment(Signal.INCREASE, None, "healthy")


def _low_headroom(observation: Observation) -> str | None:
    rate = observation.rate_limit
    if (
        rate is not None
        and rate.remaining is not None
        and rate.limit
        and rate.remaining < LOW_RATE_FRACTION * rate.limit
    ):
        return f"rate-limit headroom low ({rate.remaining} of {rate.limit} left)"
    concurrency = observation.concurrency
    if concurrency is not None and concurrency.remaining is not None:
        floor = LOW_CONCURRENCY_REMAINING
        if concurrency.limit:
            floor = max(floor, math.floor(LOW_CONCURRENCY_FRACTION * concurrency.limit))
        if concurrency.remaining <= floor:
            return f"concurrency headroom low ({concurrency.remaining} left)"
    return None


def adjust(
    state: LimitState, signal: Signal, *, started_at: float, now: float, max_in_flight: int
) -> LimitState:
    """The limit after the response, at `now`, to a request sent at `started_at` (store clock)."""
    limit = min(max(state.limit, 1.0), float(max_in_flight))
    if signal is Signal.DECREASE:
        if started_at <= state.decreased_at:
            return LimitState(limit, state.decreased_at)
        return LimitState(max(1.0, limit * DECREASE_FACTOR), now)
    if signal is Signal.INCREASE:
        grown = min(float(max_in_flight), limit + INCREASE_STEP / limit)
        return LimitState(grown, state.decreased_at)
    return LimitState(limit, state.decreased_at)


def effective_cap(limit: float, max_in_flight: int) -> int:
    """Slots a tenant may hold now: the adaptive limit rounded down, within [1, max_in_flight]."""
    return max(1, min(max_in_flight, math.floor(limit)))
