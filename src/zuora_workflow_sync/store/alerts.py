"""The alert journal: every alert raised and when it was resolved, for the dashboard, and the
guard that makes an incident alert once however many processes see it (one open row per
incident, enforced by a partial unique index)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from zuora_workflow_sync.domain.fleet import Alert
from zuora_workflow_sync.store.engine import reading, writing
from zuora_workflow_sync.store.tables import ERROR_MESSAGE_MAX_LENGTH, AlertRow

_COLUMNS = (
    AlertRow.id,
    AlertRow.kind,
    AlertRow.incident,
    AlertRow.customer_id,
    AlertRow.message,
    AlertRow.raised_at,
    AlertRow.resolved_at,
)


class AlertJournal:
    """Records alerts through `engine`; each call is its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def raise_once(
        self, kind: str, incident: str, message: str, now: datetime, customer_id: int | None = None
    ) -> bool:
        """Open an alert for `incident` unless one is open; True when this call opened it."""
        values = {
            "kind": kind,
            "incident": incident,
            "customer_id": customer_id,
            "message": message[:ERROR_MESSAGE_MAX_LENGTH],
            "raised_at": now,
        }
        try:
            with writing(self._engine) as conn:
                conn.execute(insert(AlertRow).values(**values))
        except IntegrityError:
            return False
        return True

    def resolve(self, incident: str, now: datetime) -> bool:
        """Close the open alert of `incident`; True when there was one."""
        statement = (
            update(AlertRow)
            .where(AlertRow.incident == incident, AlertRow.resolved_at.is_(None))
            .values(resolved_at=now)
        )
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount > 0

    def is_open(self, incident: str) -> bool:
        query = select(AlertRow.id).where(
            AlertRow.incident == incident, AlertRow.resolved_at.is_(None)
        )
        with reading(self._engine) as conn:
            return conn.execute(query.limit(1)).first() is not None

    def recent(self, limit: int) -> list[Alert]:
        """The newest alerts first."""
        query = select(*_COLUMNS).order_by(AlertRow.raised_at.desc(), AlertRow.id.desc())
        with reading(self._engine) as conn:
            return [Alert(*row) for row in conn.execute(query.limit(limit))]
