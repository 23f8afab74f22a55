"""The schema: customers, workflows (+ history and tasks) and the sync run ledger.

Every constraint and index is named (see NAMING_CONVENTION) so migrations and metadata agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zuora_workflow_sync.domain.models import CustomerStatus, RunStatus, RunTrigger
from zuora_workflow_sync.store.types import JSONDocument, UTCDateTime, WideId

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
NAME_MAX_LENGTH = 200
ERROR_MESSAGE_MAX_LENGTH = 1000
ACTIVE_RUN_WHERE = "status IN ('queued', 'running')"
OPEN_ALERT_WHERE = "resolved_at IS NULL"


def utc_now() -> datetime:
    """Audit timestamps (created_at, updated_at); leases use the database clock instead."""
    return datetime.now(UTC)


def _in_values(column: str, values: type[CustomerStatus | RunStatus | RunTrigger]) -> str:
    # Quoted: "trigger" is an SQL keyword.
    return f'"{column}" IN ({", ".join(repr(member.value) for member in values)})'


class Base(DeclarativeBase):
    """Declarative base with the naming convention and the shared column types."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDocument,
    }


class CustomerRow(Base):
    """A customer and its Zuora tenant; the client secret is a Fernet token."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(_in_values("sync_status", CustomerStatus), name="sync_status"),
        CheckConstraint("consecutive_failures >= 0", name="consecutive_failures"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), unique=True)
    sync_status: Mapped[str] = mapped_column(String(16), default=CustomerStatus.ACTIVE.value)
    last_synced_at: Mapped[datetime | None]
    zuora_environment: Mapped[str | None] = mapped_column(String(64))
    zuora_base_url: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    entity_id: Mapped[str | None] = mapped_column(String(100))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    attention_reason: Mapped[str | None] = mapped_column(String(ERROR_MESSAGE_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
    # The circuit breaker (domain.circuit) and the pacing overrides, added by revision 0003.
    circuit_open_until: Mapped[datetime | None]
    circuit_opened_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    circuit_held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    max_in_flight: Mapped[int | None] = mapped_column(Integer)
    tenant_type: Mapped[str | None] = mapped_column(String(32))


class WorkflowRow(Base):
    """The current state of one Zuora workflow of a customer; `deleted_at` is the tombstone."""

    __tablename__ = "workflows"
    __table_args__ = (
        UniqueConstraint("customer_id", "zuora_workflow_id"),
        # Revision 0006: live workflows per customer and in all (`count_live`, `store.fleet`),
        # counted from the index alone, never reading a row and its document.
        Index(None, "customer_id", "deleted_at"),
    )

    id: Mapped[int] = mapped_column(WideId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    zuora_workflow_id: Mapped[int] = mapped_column(WideId)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(64))
    active_version: Mapped[str | None] = mapped_column(String(64))
    zuora_created_at: Mapped[datetime | None]
    zuora_updated_at: Mapped[datetime | None]
    document: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime]
    last_changed_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class WorkflowHistoryRow(Base):
    """One distinct content of a workflow, kept forever."""

    __tablename__ = "workflow_history"
    __table_args__ = (UniqueConstraint("workflow_id", "content_hash"),)

    id: Mapped[int] = mapped_column(WideId, primary_key=True, autoincrement=True)
    workflow_id: Mapped[int] = mapped_column(WideId, ForeignKey("workflows.id"))
    content_hash: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]]
    active_version: Mapped[str | None] = mapped_column(String(64))
    seen_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(WideId, ForeignKey("sync_runs.id"))


class WorkflowTaskRow(Base):
    """One task of the current content of a workflow, indexed for search (its text also by the
    trigram index of `store.search`, which migration 0004 creates beside the metadata)."""

    __tablename__ = "workflow_tasks"
    __table_args__ = (
        UniqueConstraint("workflow_id", "zuora_task_id"),
        Index(None, "action_type"),
        Index(None, "object"),
        Index(None, "priority"),
    )

    id: Mapped[int] = mapped_column(WideId, primary_key=True, autoincrement=True)
    workflow_id: Mapped[int] = mapped_column(WideId, ForeignKey("workflows.id"))
    zuora_task_id: Mapped[int] = mapped_column(WideId)
    name: Mapped[str | None] = mapped_column(Text)
    action_type: Mapped[str | None] = mapped_column(String(100))
    object: Mapped[str | None] = mapped_column(String(200))
    object_id: Mapped[str | None] = mapped_column(String(200))
    call_type: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[str | None] = mapped_column(String(32))
    parent_task_id: Mapped[int | None] = mapped_column(WideId)
    tags: Mapped[list[str]] = mapped_column(JSONDocument)
    parameters: Mapped[dict[str, Any]]


class SyncRunRow(Base):
    """The ledger: one row per dispatched run, claimed with a lease, fenced by `attempt`."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        CheckConstraint(_in_values("status", RunStatus), name="status"),
        CheckConstraint(_in_values("trigger", RunTrigger), name="trigger"),
        CheckConstraint("attempt >= 0 AND max_attempts >= 1", name="attempts"),
        # At most one queued or running run per customer, enforced by the database.
        Index(
            "uq_sync_runs_one_active_per_customer",
            "customer_id",
            unique=True,
            sqlite_where=text(ACTIVE_RUN_WHERE),
            postgresql_where=text(ACTIVE_RUN_WHERE),
        ),
        Index(None, "customer_id", "dispatched_at"),
        Index(None, "status", "lease_expires_at"),
        Index(None, "status", "not_before_at"),
        Index(None, "finished_at"),
    )

    id: Mapped[int] = mapped_column(WideId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    queue: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    dispatched_at: Mapped[datetime]
    not_before_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    listed_count: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0)
    tombstoned_count: Mapped[int] = mapped_column(Integer, default=0)
    api_request_count: Mapped[int] = mapped_column(Integer, default=0)
    # Added by revision 0006: what the run's client sent to the token endpoint, and the 429s.
    token_request_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    throttled_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    error_class: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(String(ERROR_MESSAGE_MAX_LENGTH))
    dispatched_by: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    full_export: Mapped[bool] = mapped_column(Boolean, default=False)
    # Seconds its attempts were held back by pacing alone (slots, quotas, pauses), all added up.
    pacing_wait_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))


class AlertRow(Base):
    """An alert raised (a circuit opened, runs waiting too long), and when it was resolved.

    `incident` names what it is about (`circuit:42`, `long_wait`): at most one open alert per
    incident, so an incident alerts once however many processes see it.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index(None, "raised_at"),
        Index(
            "uq_alerts_one_open_incident",
            "incident",
            unique=True,
            sqlite_where=text(OPEN_ALERT_WHERE),
            postgresql_where=text(OPEN_ALERT_WHERE),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    incident: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(String(ERROR_MESSAGE_MAX_LENGTH))
    raised_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class LeaseRow(Base):
    """A named lease (e.g. `scheduler`): one owner at a time, times on the database clock.

    `tick_at` / `tick_finished_at` record the holder's latest cron tick and when its work ended;
    they outlive handovers, so a new holder never repeats a finished tick.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    tick_at: Mapped[datetime | None]
    tick_finished_at: Mapped[datetime | None]
