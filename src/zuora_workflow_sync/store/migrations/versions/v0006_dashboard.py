"""The dashboard's records: each run's token requests and 429 replies, the alerts raised, and
the indexes of its counts (runs by finish time, workflows by tombstone).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the store's datetime column type: a migration must not change with the code.
_AT = sa.DateTime(timezone=True)
_OPEN = "resolved_at IS NULL"


def upgrade() -> None:
    # Plain ADD COLUMN with server defaults (no batch copy of `sync_runs` on SQLite).
    for column in ("token_request_count", "throttled_count"):
        op.add_column(
            "sync_runs", sa.Column(column, sa.Integer(), nullable=False, server_default="0")
        )
    # The dashboard's runs by hour and usage per tenant read the runs finished lately.
    op.create_index("ix_sync_runs_finished_at", "sync_runs", ["finished_at"])
    # Live workflows per customer and in all, counted from the index (no row, no document read).
    op.create_index(
        "ix_workflows_customer_id_deleted_at", "workflows", ["customer_id", "deleted_at"]
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("incident", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.String(1000), nullable=False),
        sa.Column("raised_at", _AT, nullable=False),
        sa.Column("resolved_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_raised_at", "alerts", ["raised_at"])
    # One open alert per incident: of two processes raising it at once, one insert wins.
    op.create_index(
        "uq_alerts_one_open_incident",
        "alerts",
        ["incident"],
        unique=True,
        sqlite_where=sa.text(_OPEN),
        postgresql_where=sa.text(_OPEN),
    )


def downgrade() -> None:
    op.drop_index("uq_alerts_one_open_incident", table_name="alerts")
    op.drop_index("ix_alerts_raised_at", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_sync_runs_finished_at", table_name="sync_runs")
    op.drop_index("ix_workflows_customer_id_deleted_at", table_name="workflows")
    for column in ("throttled_count", "token_request_count"):
        op.drop_column("sync_runs", column)
