"""Heartbeat leases: each run records how long pacing held its attempts back.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN with a server default (no batch copy of `sync_runs` on SQLite).
    op.add_column(
        "sync_runs",
        sa.Column("pacing_wait_seconds", sa.Float(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("sync_runs", "pacing_wait_seconds")
