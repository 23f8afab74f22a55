"""Initial schema: customers, workflows, workflow_history, workflow_tasks, sync_runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the store's column types: a migration must not change when the code does.
_AT = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_WIDE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ACTIVE_RUN_WHERE = sa.text("status IN ('queued', 'running')")


def _id(type_: Any = None) -> sa.Column[Any]:
    return sa.Column(
        "id",
        type_ if type_ is not None else sa.Integer(),
        primary_key=True,
        autoincrement=True,
        nullable=False,
    )


def _create_customers() -> None:
    op.create_table(
        "customers",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sync_status", sa.String(16), nullable=False),
        sa.Column("last_synced_at", _AT, nullable=True),
        sa.Column("zuora_environment", sa.String(64), nullable=True),
        sa.Column("zuora_base_url", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("client_secret_encrypted", sa.Text(), nullable=False),
        sa.Column("entity_id", sa.String(100), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("attention_reason", sa.String(1000), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("name", name="uq_customers_name"),
        sa.CheckConstraint(
            "\"sync_status\" IN ('active', 'paused', 'disabled')",
            name="ck_customers_sync_status",
        ),
        sa.CheckConstraint("consecutive_failures >= 0", name="ck_customers_consecutive_failures"),
    )


def _create_workflows() -> None:
    op.create_table(
        "workflows",
        _id(_WIDE_ID),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("zuora_workflow_id", _WIDE_ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(64), nullable=True),
        sa.Column("active_version", sa.String(64), nullable=True),
        sa.Column("zuora_created_at", _AT, nullable=True),
        sa.Column("zuora_updated_at", _AT, nullable=True),
        sa.Column("document", _JSON, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("first_seen_at", _AT, nullable=False),
        sa.Column("last_changed_at", _AT, nullable=False),
        sa.Column("last_seen_at", _AT, nullable=False),
        sa.Column("deleted_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workflows"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_workflows_customer_id_customers"
        ),
        sa.UniqueConstraint(
            "customer_id",
            "zuora_workflow_id",
            name="uq_workflows_customer_id_zuora_workflow_id",
        ),
    )


def _create_sync_runs() -> None:
    op.create_table(
        "sync_runs",
        _id(_WIDE_ID),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dispatched_at", _AT, nullable=False),
        sa.Column("not_before_at", _AT, nullable=False),
        sa.Column("started_at", _AT, nullable=True),
        sa.Column("finished_at", _AT, nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", _AT, nullable=True),
        *(
            sa.Column(f"{count}_count", sa.Integer(), nullable=False)
            for count in ("listed", "created", "updated", "unchanged", "tombstoned", "api_request")
        ),
        sa.Column("error_class", sa.String(200), nullable=True),
        sa.Column("error_message", sa.String(1000), nullable=True),
        sa.Column("dispatched_by", sa.String(200), nullable=False),
        sa.Column("full_export", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sync_runs"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_sync_runs_customer_id_customers"
        ),
        sa.CheckConstraint(
            "\"status\" IN ('queued', 'running', 'succeeded', 'failed', 'abandoned')",
            name="ck_sync_runs_status",
        ),
        sa.CheckConstraint(
            "\"trigger\" IN ('command', 'schedule', 'retry')", name="ck_sync_runs_trigger"
        ),
        sa.CheckConstraint("attempt >= 0 AND max_attempts >= 1", name="ck_sync_runs_attempts"),
    )
    _create_sync_run_indexes()


def _create_sync_run_indexes() -> None:
    op.create_index(
        "uq_sync_runs_one_active_per_customer",
        "sync_runs",
        ["customer_id"],
        unique=True,
        sqlite_where=_ACTIVE_RUN_WHERE,
        postgresql_where=_ACTIVE_RUN_WHERE,
    )
    op.create_index(
        "ix_sync_runs_customer_id_dispatched_at", "sync_runs", ["customer_id", "dispatched_at"]
    )
    op.create_index(
        "ix_sync_runs_status_lease_expires_at", "sync_runs", ["status", "lease_expires_at"]
    )
    op.create_index("ix_sync_runs_status_not_before_at", "sync_runs", ["status", "not_before_at"])


def _create_workflow_history() -> None:
    op.create_table(
        "workflow_history",
        _id(_WIDE_ID),
        sa.Column("workflow_id", _WIDE_ID, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("document", _JSON, nullable=False),
        sa.Column("active_version", sa.String(64), nullable=True),
        sa.Column("seen_at", _AT, nullable=False),
        sa.Column("run_id", _WIDE_ID, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_history"),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name="fk_workflow_history_workflow_id_workflows"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["sync_runs.id"], name="fk_workflow_history_run_id_sync_runs"
        ),
        sa.UniqueConstraint(
            "workflow_id", "content_hash", name="uq_workflow_history_workflow_id_content_hash"
        ),
    )


def _create_workflow_tasks() -> None:
    op.create_table(
        "workflow_tasks",
        _id(_WIDE_ID),
        sa.Column("workflow_id", _WIDE_ID, nullable=False),
        sa.Column("zuora_task_id", _WIDE_ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("action_type", sa.String(100), nullable=True),
        sa.Column("object", sa.String(200), nullable=True),
        sa.Column("object_id", sa.String(200), nullable=True),
        sa.Column("call_type", sa.String(100), nullable=True),
        sa.Column("parent_task_id", _WIDE_ID, nullable=True),
        sa.Column("tags", _JSON, nullable=False),
        sa.Column("parameters", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_tasks"),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflows.id"], name="fk_workflow_tasks_workflow_id_workflows"
        ),
        sa.UniqueConstraint(
            "workflow_id", "zuora_task_id", name="uq_workflow_tasks_workflow_id_zuora_task_id"
        ),
    )
    op.create_index("ix_workflow_tasks_action_type", "workflow_tasks", ["action_type"])
    op.create_index("ix_workflow_tasks_object", "workflow_tasks", ["object"])


def upgrade() -> None:
    _create_customers()
    _create_workflows()
    _create_sync_runs()
    _create_workflow_history()
    _create_workflow_tasks()


def downgrade() -> None:
    for table in ("workflow_tasks", "workflow_history", "sync_runs", "workflows", "customers"):
        op.drop_table(table)
