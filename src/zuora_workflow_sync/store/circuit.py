"""The circuit breaker's columns of `customers`: the dispatch condition, and its transitions.

`circuit_allows_dispatch(now)` is the SQL twin of `Circuit.allows_dispatch`. The transitions
read the customer row locked (FOR NO KEY UPDATE on PostgreSQL, so dispatches inserting runs of
the customer are not blocked; SQLite's write transactions are exclusive already) and write the
state `domain.circuit` computed, inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, not_, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement

from zuora_workflow_sync.domain.circuit import Circuit, CircuitChange, CircuitPolicy, skip_reason
from zuora_workflow_sync.domain.models import CustomerStatus
from zuora_workflow_sync.store.tables import ERROR_MESSAGE_MAX_LENGTH, CustomerRow


@dataclass(frozen=True, slots=True)
class CircuitSkip:
    """A customer a dispatch skips because its circuit is open or held, and the reason."""

    customer_id: int
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class RecordedFailure:
    """A failed run counted against its customer: the failures in a row and the transition."""

    consecutive_failures: int
    change: CircuitChange


@dataclass(frozen=True, slots=True)
class PreviousState:
    """What a success or a reset replaced: the failures in a row and the circuit."""

    consecutive_failures: int
    circuit: Circuit


def circuit_allows_dispatch(now: datetime) -> ColumnElement[bool]:
    """Closed, or open with its cool-down over (half-open: the dispatch is the probe); never
    while held. `now` is an aware UTC datetime."""
    return and_(
        not_(CustomerRow.circuit_held),
        or_(CustomerRow.circuit_open_until.is_(None), CustomerRow.circuit_open_until <= now),
    )


def circuit_blocks_dispatch(now: datetime) -> ColumnElement[bool]:
    """The customers `circuit_allows_dispatch(now)` leaves out."""
    return or_(CustomerRow.circuit_held, CustomerRow.circuit_open_until > now)


def circuit_values(circuit: Circuit) -> dict[str, Any]:
    """The columns holding `circuit`."""
    return {
        "circuit_open_until": circuit.open_until,
        "circuit_opened_count": circuit.opened_count,
        "circuit_held": circuit.held,
    }


def circuit_of(row: Any) -> Circuit:
    """The circuit of a customer row (or mapping with the three columns)."""
    return Circuit(
        open_until=row.circuit_open_until,
        opened_count=row.circuit_opened_count,
        held=bool(row.circuit_held),
    )


def record_failure(
    conn: Connection,
    customer_id: int,
    policy: CircuitPolicy,
    now: datetime,
    *,
    hold: bool = False,
    attention: str | None = None,
    counted: bool = False,
) -> RecordedFailure | None:
    """Count a finally failed run (unless `counted`: the ledger already did) and move the
    circuit; `attention` replaces the attention reason. None when the customer is gone."""
    row = _locked(conn, customer_id)
    if row is None:
        return None
    failures = row.consecutive_failures + (0 if counted else 1)
    change = policy.after_failure(circuit_of(row), failures, now, hold=hold)
    values = {"consecutive_failures": failures, **circuit_values(change.circuit)}
    if attention is not None:
        values["attention_reason"] = attention[:ERROR_MESSAGE_MAX_LENGTH]
    conn.execute(update(CustomerRow).where(CustomerRow.id == customer_id).values(**values))
    return RecordedFailure(failures, change)


def close(conn: Connection, customer_id: int, *, clear_attention: bool) -> PreviousState | None:
    """Close the circuit and zero the failures; the attention reason goes too when asked, or
    when the circuit was held (the hold was its cause). None when the customer is gone."""
    row = _locked(conn, customer_id)
    if row is None:
        return None
    previous = PreviousState(row.consecutive_failures, circuit_of(row))
    values: dict[str, Any] = {"consecutive_failures": 0, **circuit_values(Circuit())}
    if clear_attention or previous.circuit.held:
        values["attention_reason"] = None
    conn.execute(update(CustomerRow).where(CustomerRow.id == customer_id).values(**values))
    return previous


def skips_query(now: datetime) -> Select[int, str, datetime | None, int, bool]:
    """Active customers whose circuit blocks a dispatch at `now`, with the circuit columns."""
    return select(
        CustomerRow.id,
        CustomerRow.name,
        CustomerRow.circuit_open_until,
        CustomerRow.circuit_opened_count,
        CustomerRow.circuit_held,
    ).where(CustomerRow.sync_status == CustomerStatus.ACTIVE.value, circuit_blocks_dispatch(now))


def to_skip(row: Any) -> CircuitSkip:
    return CircuitSkip(row.id, row.name, skip_reason(circuit_of(row), row.id))


def _locked(conn: Connection, customer_id: int) -> Row[int, datetime | None, int, bool] | None:
    query = select(
        CustomerRow.consecutive_failures,
        CustomerRow.circuit_open_until,
        CustomerRow.circuit_opened_count,
        CustomerRow.circuit_held,
    ).where(CustomerRow.id == customer_id)
    return conn.execute(query.with_for_update(key_share=True)).first()
