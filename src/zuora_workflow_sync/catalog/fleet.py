"""The fleet as the dashboard shows it: the overview, customers with search, one customer with
its runs and workflows, and the run ledger with filters. Composes `store.fleet`,
`store.customers`, `store.runs` and `store.alerts`; writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from zuora_workflow_sync.catalog.pages import check_limit, decode_cursor, encode_cursor
from zuora_workflow_sync.catalog.references import NotFoundError, resolve_customer
from zuora_workflow_sync.domain.fleet import (
    Alert,
    Backlog,
    CustomerCount,
    HourlyRuns,
    RunFilter,
    StoredCounts,
    TenantUsage,
)
from zuora_workflow_sync.domain.models import Customer, CustomerStatus, SyncRun
from zuora_workflow_sync.domain.records import Page, WorkflowFilter, WorkflowSummary
from zuora_workflow_sync.store.alerts import AlertJournal
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.fleet import FleetReader
from zuora_workflow_sync.store.reads import WorkflowReader
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.workflows import WorkflowRepository

_CUSTOMERS = "customers"
_RUNS = "runs"
USAGE_ROWS = 20
RECENT_ALERTS = 10
CUSTOMER_RUNS = 20
CUSTOMER_WORKFLOWS = 500


@dataclass(frozen=True, slots=True)
class Overview:
    """The fleet at `now`: runs by hour cover the last 24 h, usage the last hour."""

    now: datetime
    customers: list[CustomerCount]
    runs_by_hour: list[HourlyRuns]
    backlog: Backlog
    usage: list[TenantUsage]
    alerts: list[Alert]
    stored: StoredCounts


@dataclass(frozen=True, slots=True)
class CustomerItem:
    """A customer of the listing, with its newest run and its live workflows."""

    customer: Customer
    last_run: SyncRun | None
    live_workflows: int


@dataclass(frozen=True, slots=True)
class CustomerDetail:
    item: CustomerItem
    runs: list[SyncRun]
    workflows: list[WorkflowSummary]


@dataclass(frozen=True, slots=True)
class RunItem:
    run: SyncRun
    customer_name: str


def overview(engine: Engine, now: datetime) -> Overview:
    fleet = FleetReader(engine)
    return Overview(
        now=now,
        customers=fleet.customer_counts(now),
        runs_by_hour=fleet.runs_by_hour(now - timedelta(hours=24)),
        backlog=fleet.backlog(now),
        usage=fleet.tenant_usage(now - timedelta(hours=1), USAGE_ROWS),
        alerts=AlertJournal(engine).recent(RECENT_ALERTS),
        stored=fleet.stored_counts(),
    )


def list_customers(
    engine: Engine,
    *,
    search: str | None = None,
    status: CustomerStatus | None = None,
    limit: int,
    cursor: str | None = None,
) -> Page[CustomerItem]:
    """Customers in id order whose name contains `search`, with their newest run."""
    check_limit(limit)
    after = 0 if cursor is None else decode_cursor(cursor, _CUSTOMERS, 1)[0]
    found = CustomerRepository(engine).list(
        status=status, after_id=after, limit=limit + 1, name_contains=search or None
    )
    more = len(found) > limit
    found = found[:limit]
    items = _items(engine, found)
    next_cursor = encode_cursor(_CUSTOMERS, [found[-1].id]) if more and found else None
    return Page(items, next_cursor)


def _items(engine: Engine, customers: list[Customer]) -> list[CustomerItem]:
    ids = [customer.id for customer in customers]
    latest = SyncRunLedger(engine).latest_runs(ids)
    live = WorkflowRepository(engine).count_live(ids)
    return [CustomerItem(c, latest.get(c.id), live.get(c.id, 0)) for c in customers]


def customer_detail(engine: Engine, reference: str) -> CustomerDetail:
    """A customer by id or exact name, its newest runs and its live workflows."""
    customer = resolve_customer(engine, reference)
    runs = FleetReader(engine).runs(RunFilter(customer_id=customer.id), None, CUSTOMER_RUNS)
    workflows = WorkflowReader(engine).summaries(
        WorkflowFilter(customer_id=customer.id), None, CUSTOMER_WORKFLOWS
    )
    return CustomerDetail(_items(engine, [customer])[0], runs, workflows)


def list_runs(
    engine: Engine, wanted: RunFilter, *, limit: int, cursor: str | None = None
) -> Page[RunItem]:
    """Runs newest first; `cursor` continues a previous page."""
    check_limit(limit)
    before = None if cursor is None else decode_cursor(cursor, _RUNS, 1)[0]
    fleet = FleetReader(engine)
    runs = fleet.runs(wanted, before, limit + 1)
    more = len(runs) > limit
    runs = runs[:limit]
    names = fleet.customer_names([run.customer_id for run in runs])
    items = [RunItem(run, names.get(run.customer_id, "?")) for run in runs]
    return Page(items, encode_cursor(_RUNS, [runs[-1].id]) if more and runs else None)


def show_run(engine: Engine, run_id: int) -> RunItem:
    run = SyncRunLedger(engine).get(run_id)
    if run is None:
        raise NotFoundError(f"no run with id {run_id}")
    names = FleetReader(engine).customer_names([run.customer_id])
    return RunItem(run, names.get(run.customer_id, "?"))
