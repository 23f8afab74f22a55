"""A circuit breaker per customer, as a pure state machine (the clock is passed in).

closed --K consecutive failed runs--> open until T --T passed--> half-open: the next dispatch is
the probe. A successful run closes it; a failed one reopens it with a doubled cool-down. An
authentication or permission failure holds it open with no end: only new credentials (which
make it half-open) or an operator's reset close it. A run that is retried counts only once it
finally fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from zuora_workflow_sync.errors import ConfigurationError


class CircuitStatus(StrEnum):
    """Where a circuit stands at a given moment."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    HELD = "held"


class CircuitEvent(StrEnum):
    """What a transition did, for alerts and logs: `opened` starts an incident, `closed` ends it."""

    OPENED = "opened"
    REOPENED = "reopened"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Circuit:
    """The persisted state: `open_until` None and not `held` means closed.

    `opened_count` is how many times it opened in a row (it sizes the cool-down); `held` means
    open until the credentials change or an operator resets it.
    """

    open_until: datetime | None = None
    opened_count: int = 0
    held: bool = False

    def status(self, now: datetime) -> CircuitStatus:
        if self.held:
            return CircuitStatus.HELD
        if self.open_until is None:
            return CircuitStatus.CLOSED
        return CircuitStatus.OPEN if now < self.open_until else CircuitStatus.HALF_OPEN

    @property
    def is_closed(self) -> bool:
        return self.open_until is None and not self.held

    def allows_dispatch(self, now: datetime) -> bool:
        """Closed, or half-open (the dispatch is the probe); never while open or held."""
        return self.status(now) in (CircuitStatus.CLOSED, CircuitStatus.HALF_OPEN)

    def describe(self, now: datetime) -> str:
        """`closed`, `open until 2026-11-29 14:05 UTC`, `half-open` (the next run probes) or
        `held` (open until the credentials change or an operator resets it)."""
        status = self.status(now)
        if status is CircuitStatus.OPEN and self.open_until is not None:
            return f"open until {format_utc(self.open_until)}"
        return status.value.replace("_", "-")


@dataclass(frozen=True, slots=True)
class CircuitChange:
    """A transition: the state to store, and the event it was (None: nothing to announce)."""

    circuit: Circuit
    event: CircuitEvent | None = None


@dataclass(frozen=True, slots=True)
class CircuitPolicy:
    """When a circuit opens (`failure_threshold` failed runs in a row) and for how long."""

    failure_threshold: int = 3
    cooldown_seconds: float = 600.0
    cooldown_max_seconds: float = 6 * 3600.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ConfigurationError("the circuit failure threshold must be at least 1")
        if self.cooldown_seconds < 0 or self.cooldown_max_seconds < 0:
            raise ConfigurationError("circuit cool-downs must not be negative")

    def cooldown(self, opened_count: int) -> float:
        """min(max, base * 2**(opened_count-1)) seconds, for opened_count >= 1."""
        doubling = 2.0 ** min(max(opened_count, 1) - 1, 62)
        return min(self.cooldown_max_seconds, self.cooldown_seconds * doubling)

    def after_failure(
        self, circuit: Circuit, failures: int, now: datetime, *, hold: bool = False
    ) -> CircuitChange:
        """After a run finally failed; `failures` counts the consecutive failures, this one
        included. `hold` is for authentication and permission failures."""
        was_closed = circuit.is_closed
        if hold:
            if circuit.held:
                return CircuitChange(circuit)
            held = Circuit(open_until=None, opened_count=circuit.opened_count + 1, held=True)
            return CircuitChange(held, CircuitEvent.OPENED if was_closed else CircuitEvent.REOPENED)
        if not was_closed:
            # A failed probe (or a forced run while open): open again, for longer.
            return CircuitChange(self._open(circuit.opened_count + 1, now), CircuitEvent.REOPENED)
        if failures >= self.failure_threshold:
            return CircuitChange(self._open(1, now), CircuitEvent.OPENED)
        return CircuitChange(circuit)

    def after_success(self, circuit: Circuit) -> CircuitChange:
        """A run succeeded: closed, and `closed` announced when it was open or held."""
        return CircuitChange(Circuit(), None if circuit.is_closed else CircuitEvent.CLOSED)

    def _open(self, opened_count: int, now: datetime) -> Circuit:
        until = now + timedelta(seconds=self.cooldown(opened_count))
        return Circuit(open_until=until, opened_count=opened_count, held=False)


def skip_reason(circuit: Circuit, customer_id: int) -> str:
    """Why a dispatch skips a customer whose circuit is open or held."""
    if circuit.held:
        return (
            "circuit open until the credentials change or an operator resets it "
            f"(workflow-sync customers reset {customer_id})"
        )
    if circuit.open_until is None:
        return "circuit closed"
    return f"circuit open until {format_utc(circuit.open_until)}"


def format_utc(moment: datetime) -> str:
    """`2026-11-29 14:05 UTC` (minutes, rounded up so the time shown is never before the end)."""
    utc = moment.astimezone(UTC)
    if utc.second or utc.microsecond:
        utc = utc.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return utc.strftime("%Y-%m-%d %H:%M UTC")
