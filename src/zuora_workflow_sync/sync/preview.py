"""`sync-workflows --dry-run`: who would be dispatched, and why each other customer is skipped.

Reads only; streams customers in pages so a large fleet is previewed in constant memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from zuora_workflow_sync.domain.circuit import skip_reason
from zuora_workflow_sync.domain.models import Customer, CustomerStatus
from zuora_workflow_sync.runtime import Runtime


@dataclass(frozen=True, slots=True)
class PreviewLine:
    """One customer's fate: `dispatch` or `skip`, with the reason in words."""

    customer_id: int
    name: str
    action: str
    reason: str


def classify(
    customer: Customer,
    active_run: int | None,
    now: datetime,
    window_seconds: float,
    *,
    force: bool,
    explicit: bool,
) -> PreviewLine:
    """Pure: what `sync-workflows` would do with this customer, and why."""
    synced = customer.last_synced_at
    skip = _skip_reason(customer, active_run, now, window_seconds, force=force, explicit=explicit)
    if skip is not None:
        return PreviewLine(customer.id, customer.name, "skip", skip)
    reason = "never synced" if synced is None else f"last synced {synced.isoformat()}"
    if force and synced is not None and synced > now - timedelta(seconds=window_seconds):
        reason += " (--force)"
    return PreviewLine(customer.id, customer.name, "dispatch", reason)


def _skip_reason(
    customer: Customer,
    active_run: int | None,
    now: datetime,
    window_seconds: float,
    *,
    force: bool,
    explicit: bool,
) -> str | None:
    status = customer.sync_status
    if status is CustomerStatus.DISABLED or (status is CustomerStatus.PAUSED and not explicit):
        return f"sync status is {status.value}"
    if active_run is not None:
        return f"run {active_run} is already queued or running"
    if not customer.circuit.allows_dispatch(now):
        return skip_reason(customer.circuit, customer.id)
    synced = customer.last_synced_at
    if not force and synced is not None and synced > now - timedelta(seconds=window_seconds):
        return f"synced recently ({synced.isoformat()}); use --force to override"
    return None


def preview(
    runtime: Runtime, customer_id: int | None, now: datetime, *, force: bool
) -> Iterator[PreviewLine]:
    """Every customer's line (or the one named), in id order."""
    window = runtime.settings.sync_window_seconds
    explicit = customer_id is not None
    for page in _pages(runtime, customer_id):
        active = runtime.ledger.active_run_ids([c.id for c in page])
        for customer in page:
            yield classify(
                customer, active.get(customer.id), now, window, force=force, explicit=explicit
            )


def _pages(runtime: Runtime, customer_id: int | None) -> Iterator[list[Customer]]:
    if customer_id is not None:
        found = runtime.customers.get(customer_id)
        if found is not None:
            yield [found]
        return
    after_id, size = 0, runtime.settings.dispatch_batch_size
    while page := runtime.customers.list(after_id=after_id, limit=size):
        yield page
        after_id = page[-1].id
