"""What the client asks of a pacing layer around each request (implemented by `pacing`).

The client enters a slot before it sends a request and reports what the response said about
the tenant's headroom before it leaves: the gate decides when a request may go (in-flight caps,
quotas, pauses) and learns from the answers (adaptive limits).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from zuora_workflow_sync.zuora.ratelimit import ConcurrencyInfo, RateLimitInfo


@dataclass(frozen=True, slots=True)
class Observation:
    """What one response said about the tenant's limits."""

    status: int
    rate_limit: RateLimitInfo | None
    concurrency: ConcurrencyInfo | None
    retry_after_seconds: float | None
    elapsed_seconds: float


class RequestSlot(Protocol):
    """A permission to send one request; told what its response said."""

    def observe(self, observation: Observation) -> None: ...


class RequestGate(Protocol):
    """Hands out slots for one tenant; entering waits until a request may go."""

    def slot(self) -> AbstractAsyncContextManager[RequestSlot]: ...


class _Ignored:
    def observe(self, observation: Observation) -> None:
        """Nothing to learn."""


class OpenGate:
    """No pacing at all: every request goes at once (one-off calls, tests of the client)."""

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[RequestSlot]:
        yield _Ignored()
