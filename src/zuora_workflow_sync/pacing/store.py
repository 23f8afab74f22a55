"""The seam between a gate and the state every worker shares about a tenant (Redis or SQLite).

A store answers three questions atomically, on its own clock (integer microseconds): may this
request go now (in-flight cap, pause, quotas, all checked and taken together), what did its
response change (release the slot, move the adaptive limit, maybe pause), and what is the state.
`renew` asks the first two at once, when a released slot goes straight to the next request.
A slot expires a short TTL after it was taken unless its holder `extend`s it (a request still
in flight), so the slots of a holder that died are free within seconds.
Both implementations pass the same contract tests (tests/pacing).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from zuora_workflow_sync.pacing.aimd import Assessment

# Kept after the last use so a day's quota count survives; refreshed by every request.
STATE_TTL_SECONDS = 2 * 86400


class Refusal(StrEnum):
    """Why a slot was not granted."""

    BUSY = "busy"  # every slot the adaptive limit allows is held
    PAUSED = "paused"  # a 429 paused the tenant
    QUOTA = "quota"  # a request quota window is used up


@dataclass(frozen=True, slots=True)
class QuotaWindow:
    """At most `quota` requests may start in each fixed window of `seconds`."""

    seconds: float
    quota: int

    @property
    def microseconds(self) -> int:
        return max(1, round(self.seconds * 1_000_000))


@dataclass(frozen=True, slots=True)
class SlotRequest:
    """One request's claim on a tenant: its slot token and the tenant's caps."""

    key: str
    token: str
    max_in_flight: int
    windows: tuple[QuotaWindow, ...]
    slot_ttl_seconds: float

    @property
    def slot_ttl_us(self) -> int:
        return max(1, round(self.slot_ttl_seconds * 1_000_000))


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to `try_acquire`: granted, or refused with the known wait (0 when busy)."""

    granted: bool
    now_us: int
    wait_seconds: float = 0.0
    refusal: Refusal | None = None
    detail: str = ""
    reclaimed: int = 0  # expired slots of dead holders freed by this call


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to `finish`: the adaptive limit before and after, and the pause.

    `paused` is true when this response started a pause (not when it extended one), and
    `pause_seconds` is what is left of the tenant's pause now.
    """

    limit_before: float
    limit_after: float
    paused: bool
    pause_seconds: float


@dataclass(frozen=True, slots=True)
class TenantSnapshot:
    """A tenant's shared state now (for tests, logs and the status of a run)."""

    limit: float
    in_flight: int
    pause_seconds: float


class PacingStore(Protocol):
    """Shared pacing state; each method is one atomic step (a script or a transaction)."""

    async def try_acquire(self, request: SlotRequest) -> Admission:
        """Take a slot and count the request in every quota window, or say why not."""
        ...

    async def finish(
        self, request: SlotRequest, *, started_at_us: int, assessment: Assessment
    ) -> Outcome:
        """Release the slot, apply the response's signal to the limit, extend any pause."""
        ...

    async def renew(
        self,
        released: SlotRequest,
        *,
        started_at_us: int,
        assessment: Assessment,
        request: SlotRequest,
    ) -> tuple[Outcome, Admission]:
        """`finish` the released slot and `try_acquire` for `request`, as one atomic step."""
        ...

    async def extend(self, key: str, tokens: list[str], ttl_seconds: float) -> int:
        """Push the expiry of the unexpired slots `tokens` of `key` to now + `ttl_seconds`:
        how many were still held (an expired or released slot is not brought back)."""
        ...

    async def snapshot(self, key: str, max_in_flight: int) -> TenantSnapshot:
        """The tenant's adaptive limit, slots held (expired ones excluded) and pause left."""
        ...

    async def aclose(self) -> None:
        """Close connections; the shared state stays."""
        ...
