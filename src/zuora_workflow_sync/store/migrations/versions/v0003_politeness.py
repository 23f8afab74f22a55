"""Politeness: each customer's circuit breaker, and its pacing overrides.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the store's datetime column type: a migration must not change with the code.
_AT = sa.DateTime(timezone=True)
_COLUMNS = (
    "circuit_open_until",
    "circuit_opened_count",
    "circuit_held",
    "max_in_flight",
    "tenant_type",
)


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite: rebuilding `customers` would trip the foreign
    # keys of its runs and workflows). The NOT NULL columns carry server defaults for old rows.
    op.add_column("customers", sa.Column("circuit_open_until", _AT, nullable=True))
    op.add_column(
        "customers",
        sa.Column("circuit_opened_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "customers",
        sa.Column("circuit_held", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("customers", sa.Column("max_in_flight", sa.Integer(), nullable=True))
    op.add_column("customers", sa.Column("tenant_type", sa.String(32), nullable=True))


def downgrade() -> None:
    for column in reversed(_COLUMNS):
        op.drop_column("customers", column)
