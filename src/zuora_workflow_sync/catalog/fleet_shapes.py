"""The JSON shapes of customers, runs and the fleet overview, shared by the CLI's `--json`
(`customers show/list`, `runs`) and the web app's `/api/...`. Stable: keys are only added.

A customer's client secret appears only as "(encrypted)"; error texts and attention reasons
are redacted (`monitoring.logs.clean`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zuora_workflow_sync.catalog.fleet import CustomerDetail, CustomerItem, Overview, RunItem
from zuora_workflow_sync.catalog.shapes import iso, summary_json
from zuora_workflow_sync.domain.fleet import Alert, TenantUsage
from zuora_workflow_sync.domain.models import Customer, SyncRun
from zuora_workflow_sync.monitoring.logs import clean

JSON = dict[str, Any]


def redacted(text: str | None) -> str | None:
    return None if text is None else clean(text)


def customer_json(customer: Customer, now: datetime) -> JSON:
    """A customer as JSON-ready values; the secret appears only as "(encrypted)"."""
    return {
        "id": customer.id,
        "name": customer.name,
        "status": customer.sync_status.value,
        "zuora_environment": customer.zuora_environment,
        "zuora_base_url": customer.zuora_base_url,
        "client_id": customer.client_id,
        "client_secret": "(encrypted)",
        "entity_id": customer.entity_id,
        "last_synced_at": iso(customer.last_synced_at),
        "consecutive_failures": customer.consecutive_failures,
        "attention_reason": customer.attention_reason,
        "circuit": customer.circuit.describe(now),
        "circuit_open_until": iso(customer.circuit_open_until),
        "circuit_held": customer.circuit_held,
        "max_in_flight": customer.max_in_flight,
        "tenant_type": None if customer.tenant_type is None else customer.tenant_type.value,
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at),
    }


def run_json(run: SyncRun, customer_name: str) -> JSON:
    counts = run.counts
    return {
        "id": run.id,
        "customer_id": run.customer_id,
        "customer_name": customer_name,
        "queue": run.queue,
        "trigger": run.trigger.value,
        "status": run.status.value,
        "attempt": run.attempt,
        "max_attempts": run.max_attempts,
        "full_export": run.full_export,
        "dispatched_at": iso(run.dispatched_at),
        "dispatched_by": run.dispatched_by,
        "not_before_at": iso(run.not_before_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration_seconds": run.duration_seconds,
        "pacing_wait_seconds": run.pacing_wait_seconds,
        "counts": {
            "listed": counts.listed,
            "created": counts.created,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
            "tombstoned": counts.tombstoned,
            "api_requests": counts.api_requests,
            "token_requests": counts.token_requests,
            "throttled": counts.throttled,
        },
        "error_class": run.error_class,
        "error_message": redacted(run.error_message),
    }


def run_item_json(item: RunItem) -> JSON:
    return run_json(item.run, item.customer_name)


def customer_item_json(item: CustomerItem, now: datetime) -> JSON:
    """A customer of the dashboard's listing: `customer_json` plus its newest run."""
    last = item.last_run
    return {
        **customer_json(item.customer, now),
        "attention_reason": redacted(item.customer.attention_reason),
        "last_outcome": None if last is None else last.status.value,
        "last_run_id": None if last is None else last.id,
        "live_workflows": item.live_workflows,
    }


def customer_detail_json(detail: CustomerDetail, now: datetime) -> JSON:
    name = detail.item.customer.name
    return {
        "customer": customer_item_json(detail.item, now),
        "runs": [run_json(run, name) for run in detail.runs],
        "workflows": [summary_json(summary) for summary in detail.workflows],
    }


def alert_json(alert: Alert) -> JSON:
    return {
        "id": alert.id,
        "kind": alert.kind,
        "incident": alert.incident,
        "customer_id": alert.customer_id,
        "message": clean(alert.message),
        "raised_at": iso(alert.raised_at),
        "resolved_at": iso(alert.resolved_at),
    }


def usage_json(usage: TenantUsage) -> JSON:
    return {
        "customer_id": usage.customer_id,
        "customer_name": usage.customer_name,
        "runs": usage.runs,
        "requests": usage.requests,
        "throttled": usage.throttled,
        "token_requests": usage.token_requests,
    }


def overview_json(view: Overview) -> JSON:
    backlog = view.backlog
    return {
        "now": iso(view.now),
        "customers": [
            {"status": c.status, "circuit": c.circuit, "count": c.count} for c in view.customers
        ],
        "runs_last_24h": [
            {"hour": r.hour, "status": r.status, "count": r.count} for r in view.runs_by_hour
        ],
        "queue": {
            "waiting": backlog.waiting,
            "scheduled": backlog.scheduled,
            "running": backlog.running,
            "oldest_waiting_since": iso(backlog.oldest_waiting_since),
            "oldest_wait_seconds": backlog.oldest_wait_seconds(view.now),
        },
        "usage_last_hour": [usage_json(usage) for usage in view.usage],
        "alerts": [alert_json(alert) for alert in view.alerts],
        "stored": {"workflows": view.stored.workflows, "tasks": view.stored.tasks},
    }
