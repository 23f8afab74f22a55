"""What the dashboard and the metrics collector read about the fleet: small typed records and
the run ledger's filter. Built by `store.fleet`, composed by `catalog.fleet`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zuora_workflow_sync.domain.models import RunStatus, RunTrigger


@dataclass(frozen=True, slots=True, order=True)
class CustomerCount:
    """How many customers have this status and this circuit status."""

    status: str
    circuit: str
    count: int


@dataclass(frozen=True, slots=True)
class StoredCounts:
    workflows: int
    tasks: int


@dataclass(frozen=True, slots=True)
class Backlog:
    """The ledger's queue: due runs waiting for a worker, runs not due yet, running runs, and
    when the oldest waiting run fell due (None: nothing waits)."""

    waiting: int
    scheduled: int
    running: int
    oldest_waiting_since: datetime | None

    def oldest_wait_seconds(self, now: datetime) -> float:
        if self.oldest_waiting_since is None:
            return 0.0
        return max(0.0, (now - self.oldest_waiting_since).total_seconds())


@dataclass(frozen=True, slots=True, order=True)
class HourlyRuns:
    """Runs that finished in one hour (`YYYY-MM-DD HH`, UTC) with one status."""

    hour: str
    status: str
    count: int


@dataclass(frozen=True, slots=True)
class TenantUsage:
    """What the runs of one customer sent to its Zuora tenant over a period."""

    customer_id: int
    customer_name: str
    runs: int
    requests: int
    throttled: int
    token_requests: int


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs the ledger listing shows; each field narrows it."""

    customer_id: int | None = None
    statuses: tuple[RunStatus, ...] = ()
    queue: str | None = None
    trigger: RunTrigger | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as recorded: `incident` is what it is about (`circuit:42`, `long_wait`)."""

    id: int
    kind: str
    incident: str
    customer_id: int | None
    message: str
    raised_at: datetime
    resolved_at: datetime | None
