"""Value types the rest of the code passes around: statuses, fetched workflows, run records.

Pure data and pure functions only: no I/O, no clock (callers pass times in).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from zuora_workflow_sync.domain.circuit import Circuit


class CustomerStatus(StrEnum):
    """Whether a customer is synced: only `active` customers are ever due."""

    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"


MAX_IN_FLIGHT_LIMIT = 40


class TenantType(StrEnum):
    """Zuora's kinds of tenant; their API quotas differ (pacing uses them)."""

    PRODUCTION = "production"
    DEVELOPER_SANDBOX = "developer_sandbox"
    API_SANDBOX = "api_sandbox"


class RunStatus(StrEnum):
    """Life of a sync run: queued -> running -> succeeded | failed | abandoned."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"

    @property
    def is_active(self) -> bool:
        """Queued and running runs are active: at most one per customer."""
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)


ACTIVE_RUN_STATUSES: tuple[str, ...] = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


class OutcomeStatus(StrEnum):
    """How one delivery of a job ended, as its caller sees it (`sync.job.RunOutcome`); the
    first three are the run's own end, the others say why this attempt did not end it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # the customer was removed since the dispatch
    RETRYING = "retrying"  # queued again for a later attempt
    DEFERRED = "deferred"  # held back by pacing: queued again, no attempt counted
    RELEASED = "released"  # the worker stopped: lease given back, job re-enqueued
    LEASE_LOST = "lease_lost"  # another attempt holds the run: nothing was written
    DATABASE_ERROR = "database_error"  # the database failed: the reaper retries it
    REQUEUED = "requeued"  # delivered before it was due
    NOT_CLAIMED = "not_claimed"  # not queued (a duplicate delivery): nothing to do
    FINISHING = "finishing"  # read; the thread's finisher stores it


class RunTrigger(StrEnum):
    """Why a run was dispatched (the audit trail)."""

    COMMAND = "command"
    SCHEDULE = "schedule"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class SyncCounts:
    """What one run saw and did; `listed` counts the workflows of the listing.

    `api_requests` counts every request to Zuora (token requests included), `token_requests`
    those to the token endpoint, `throttled` the replies that were a 429.
    """

    listed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    tombstoned: int = 0
    api_requests: int = 0
    token_requests: int = 0
    throttled: int = 0


@dataclass(frozen=True, slots=True)
class FetchedTask:
    """One task of an export, with the fields the store indexes."""

    zuora_task_id: int
    name: str | None = None
    action_type: str | None = None
    object: str | None = None
    object_id: str | None = None
    call_type: str | None = None
    priority: str | None = None
    parent_task_id: int | None = None
    tags: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FetchedWorkflow:
    """A workflow as fetched from Zuora: listing metadata plus its whole export document."""

    zuora_workflow_id: int
    name: str
    document: dict[str, Any]
    description: str | None = None
    status: str | None = None
    active_version: str | None = None
    zuora_created_at: datetime | None = None
    zuora_updated_at: datetime | None = None
    tasks: list[FetchedTask] = field(default_factory=list)


def canonical_json(document: Mapping[str, Any]) -> str:
    """The canonical JSON of `document`: sorted keys, compact, non-ASCII kept as is.

    Raises ValueError for NaN or infinite numbers, which JSON (and PostgreSQL's JSONB) reject.
    """
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def canonical_hash(canonical: str) -> str:
    """sha256 (hex) of a canonical JSON text (`canonical_json`), UTF-8 encoded."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def content_hash(document: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of `document`: sorted keys, compact, UTF-8.

    Raises ValueError for NaN or infinite numbers, which JSON (and PostgreSQL's JSONB) reject.
    """
    return canonical_hash(canonical_json(document))


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer as stored; the encrypted secret is kept out of the repr.

    `circuit_*` hold its circuit breaker (see `domain.circuit`); `max_in_flight` overrides the
    requests in flight allowed per customer and `tenant_type` names its Zuora quotas (None:
    the defaults).
    """

    id: int
    name: str
    sync_status: CustomerStatus
    zuora_base_url: str
    zuora_environment: str | None
    client_id: str
    entity_id: str | None
    last_synced_at: datetime | None
    consecutive_failures: int
    attention_reason: str | None
    created_at: datetime
    updated_at: datetime
    client_secret_encrypted: str = field(repr=False)
    circuit_open_until: datetime | None = None
    circuit_opened_count: int = 0
    circuit_held: bool = False
    max_in_flight: int | None = None
    tenant_type: TenantType | None = None

    @property
    def circuit(self) -> Circuit:
        return Circuit(self.circuit_open_until, self.circuit_opened_count, self.circuit_held)


@dataclass(frozen=True, slots=True)
class DueCustomer:
    """A customer whose sync is due (what the dispatcher needs, nothing more)."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One run to record at dispatch; `not_before_at` staggers the start."""

    customer_id: int
    not_before_at: datetime
    full_export: bool = False


@dataclass(frozen=True, slots=True)
class RecordedRun:
    """A run the ledger recorded, to be enqueued by id."""

    run_id: int
    customer_id: int
    not_before_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run a worker holds: `attempt` is the fencing token every later write must present."""

    run_id: int
    customer_id: int
    attempt: int
    max_attempts: int
    lease_owner: str
    lease_expires_at: datetime
    started_at: datetime
    trigger: RunTrigger
    full_export: bool


@dataclass(frozen=True, slots=True)
class SyncRun:
    """One row of the ledger, as read back."""

    id: int
    customer_id: int
    queue: str
    trigger: RunTrigger
    status: RunStatus
    dispatched_at: datetime
    not_before_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    attempt: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    counts: SyncCounts
    error_class: str | None
    error_message: str | None
    dispatched_by: str
    full_export: bool
    pacing_wait_seconds: float = 0.0
