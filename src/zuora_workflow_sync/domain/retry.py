"""Retry decisions as pure values, of one request and of a whole run: full-jitter exponential
backoff that honours Retry-After.

Zuora's advice (zuora-api.md 5.3): sleep = random(0, min(cap, base * 2**attempt)), never less
than Retry-After, never a fixed wait that synchronises clients. 400/401/403/404 never retry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from zuora_workflow_sync.errors import (
    ConfigurationError,
    RateLimitedError,
    ServerError,
    ZuoraError,
    ZuoraRetriableError,
)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Whether to try again, after how long, and why (for logs)."""

    retry: bool
    delay_seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries of one request.

    `max_attempts` counts the first try. A server that asks us to wait longer than
    `max_retry_after_seconds` is not waited for here: the error goes up to the run, whose own
    retry (and the pacing layer) handles long penalties without holding a worker.
    """

    max_attempts: int = 5
    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 100:
            raise ConfigurationError("retry max_attempts must be between 1 and 100")
        if self.base_seconds < 0 or self.cap_seconds < 0 or self.max_retry_after_seconds < 0:
            raise ConfigurationError("retry delays must not be negative")

    def backoff_seconds(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))] for attempt >= 1."""
        return full_jitter(self.base_seconds, self.cap_seconds, attempt, rng)

    def decide(self, error: ZuoraError, attempt: int, rng: random.Random) -> RetryDecision:
        """What to do after `attempt` (1-based) failed with `error`."""
        if not isinstance(error, ZuoraRetriableError):
            return RetryDecision(False, 0.0, f"{type(error).__name__} is not retried")
        if attempt >= self.max_attempts:
            return RetryDecision(False, 0.0, f"gave up after {attempt} attempts")
        retry_after = _retry_after(error)
        if retry_after is not None and retry_after > self.max_retry_after_seconds:
            return RetryDecision(
                False, 0.0, f"server asked to wait {retry_after:.0f}s, over the in-request limit"
            )
        delay = self.backoff_seconds(attempt, rng)
        if retry_after is not None and retry_after >= delay:
            # Waiting exactly Retry-After would wake every client at once: spread them a little.
            delay = retry_after + rng.uniform(0.0, self.base_seconds)
        return RetryDecision(True, delay, f"{type(error).__name__}, attempt {attempt}")


def full_jitter(base: float, cap: float, attempt: int, rng: random.Random) -> float:
    """Uniform in [0, min(cap, base * 2**(attempt-1))] for attempt >= 1 (Zuora's advice)."""
    return rng.uniform(0.0, min(cap, base * (2 ** min(attempt - 1, 62))))


def _retry_after(error: ZuoraError) -> float | None:
    if isinstance(error, RateLimitedError | ServerError):
        return error.retry_after_seconds
    return None


@dataclass(frozen=True, slots=True)
class JobRetryPolicy:
    """Retries of a whole run, after its in-request retries are spent.

    Only `retriable` errors are retried (by default Zuora's retriable ones: 429, 5xx, timeouts,
    network); authentication, permission, not-found, bad-request and protocol errors never are.
    The delay is full jitter, uniform in [0, min(cap, base * 2**(attempt-1))]; when that is
    shorter than the server's Retry-After, Retry-After plus up to `base` more, so the runs a
    penalty held back do not all return at the same instant.
    """

    base_seconds: float = 30.0
    cap_seconds: float = 1800.0
    retriable: tuple[type[BaseException], ...] = (ZuoraRetriableError,)

    def __post_init__(self) -> None:
        if self.base_seconds < 0 or self.cap_seconds < 0:
            raise ConfigurationError("retry delays must not be negative")

    def decide(
        self, error: BaseException, attempt: int, max_attempts: int, rng: random.Random
    ) -> RetryDecision:
        """What to do after `attempt` (1-based) of a run allowed `max_attempts` failed."""
        if not isinstance(error, self.retriable):
            return RetryDecision(False, 0.0, f"{type(error).__name__} is not retried")
        if attempt >= max_attempts:
            return RetryDecision(False, 0.0, f"gave up after {attempt} attempts")
        delay = full_jitter(self.base_seconds, self.cap_seconds, max(attempt, 1), rng)
        retry_after = _retry_after(error) if isinstance(error, ZuoraError) else None
        if retry_after is not None and retry_after >= delay:
            # As for requests: the runs one answer held back must not all come back at once.
            delay = retry_after + rng.uniform(0.0, self.base_seconds)
        return RetryDecision(
            True, delay, f"{type(error).__name__}, attempt {attempt} of {max_attempts}"
        )
