"""Customers: add, read, change status, remove, stream the due ones, re-encrypt secrets, and
persist their circuit breakers (the statements are in `store.circuit`).

Every method runs in its own short transaction; streaming methods use one per batch.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from zuora_workflow_sync.domain.circuit import CircuitPolicy
from zuora_workflow_sync.domain.models import (
    ACTIVE_RUN_STATUSES,
    MAX_IN_FLIGHT_LIMIT,
    Customer,
    CustomerStatus,
    DueCustomer,
    TenantType,
)
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store import circuit
from zuora_workflow_sync.store.circuit import CircuitSkip, PreviousState, RecordedFailure
from zuora_workflow_sync.store.engine import reading, writing
from zuora_workflow_sync.store.search import escape_like
from zuora_workflow_sync.store.secrets import Keyring, SecretsError
from zuora_workflow_sync.store.tables import (
    ERROR_MESSAGE_MAX_LENGTH,
    NAME_MAX_LENGTH,
    CustomerRow,
    SyncRunRow,
    WorkflowHistoryRow,
    WorkflowRow,
    WorkflowTaskRow,
    utc_now,
)

_MAX_ID = 2**31 - 1
_CUSTOMERS = CustomerRow.__table__


class CustomerExistsError(ConfigurationError):
    """A customer with this name or id already exists; nothing was written."""


class CustomerNotFoundError(ConfigurationError):
    """No customer has this id."""


class CustomerBusyError(ConfigurationError):
    """The customer has a queued or running sync run, so it cannot be removed now."""


class CustomerRepository:
    """Reads and writes customers through `engine`; each call is its own transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(
        self,
        name: str,
        *,
        zuora_base_url: str,
        client_id: str,
        client_secret_encrypted: str,
        zuora_environment: str | None = None,
        entity_id: str | None = None,
        customer_id: int | None = None,
        max_in_flight: int | None = None,
        tenant_type: TenantType | None = None,
    ) -> Customer:
        """Store a new active customer; the base URL is already resolved, the secret encrypted.

        Raises CustomerExistsError when the name or the explicit id is taken (nothing written).
        """
        _check_new_customer(name, customer_id)
        values: dict[str, Any] = {
            "name": name,
            "sync_status": CustomerStatus.ACTIVE.value,
            "zuora_environment": zuora_environment,
            "zuora_base_url": zuora_base_url,
            "client_id": client_id,
            "client_secret_encrypted": client_secret_encrypted,
            "entity_id": entity_id,
            **_pacing_values(max_in_flight, tenant_type),
        }
        if customer_id is not None:
            values["id"] = customer_id
        with writing(self._engine) as conn:
            _refuse_duplicate(conn, name, customer_id)
            try:
                new_id = conn.execute(
                    insert(CustomerRow).values(**values).returning(CustomerRow.id)
                ).scalar_one()
            except IntegrityError:
                raise CustomerExistsError(f"customer {name!r} already exists") from None
            if customer_id is not None:
                _advance_id_sequence(conn)
            return _require(conn, new_id)

    def ensure_addable(self, name: str, customer_id: int | None = None) -> None:
        """Raise what `add` would for this name and explicit id (CustomerExistsError,
        ConfigurationError), writing nothing, so a caller can refuse before slow work; `add`
        checks again in its own transaction."""
        _check_new_customer(name, customer_id)
        with reading(self._engine) as conn:
            _refuse_duplicate(conn, name, customer_id)

    def get(self, customer_id: int, *, bind: Connection | None = None) -> Customer | None:
        """The customer, or None; in its own transaction or in the caller's (`bind`)."""
        statement = select(_CUSTOMERS).where(CustomerRow.id == customer_id)
        if bind is not None:
            row = bind.execute(statement).first()
        else:
            with reading(self._engine) as conn:
                row = conn.execute(statement).first()
        return None if row is None else _to_customer(row._mapping)

    def stored_secret(self) -> str | None:
        """One encrypted client secret (the lowest id's), None when none is stored."""
        statement = select(CustomerRow.client_secret_encrypted).order_by(CustomerRow.id).limit(1)
        with reading(self._engine) as conn:
            return conn.execute(statement).scalar_one_or_none()

    def get_by_name(self, name: str) -> Customer | None:
        with reading(self._engine) as conn:
            row = conn.execute(select(_CUSTOMERS).where(CustomerRow.name == name)).first()
        return None if row is None else _to_customer(row._mapping)

    def list(
        self,
        *,
        status: CustomerStatus | None = None,
        after_id: int = 0,
        limit: int = 1000,
        name_contains: str | None = None,
    ) -> builtins.list[Customer]:
        """Up to `limit` customers with id > `after_id`, in id order (page with `after_id`);
        `name_contains` keeps those whose name has it, in any letter case."""
        query = select(_CUSTOMERS).where(CustomerRow.id > after_id)
        if status is not None:
            query = query.where(CustomerRow.sync_status == status.value)
        if name_contains:
            pattern = "%" + escape_like(name_contains) + "%"
            query = query.where(CustomerRow.name.ilike(pattern, escape="\\"))
        with reading(self._engine) as conn:
            rows = conn.execute(query.order_by(CustomerRow.id).limit(limit)).all()
        return [_to_customer(row._mapping) for row in rows]

    def set_status(self, customer_id: int, status: CustomerStatus) -> None:
        """Change the sync status; CustomerNotFoundError for an unknown id."""
        self._update(customer_id, sync_status=status.value)

    def set_attention(self, customer_id: int, reason: str | None) -> None:
        """Record (or clear, with None) why the customer needs an operator's attention."""
        text = None if reason is None else reason[:ERROR_MESSAGE_MAX_LENGTH]
        self._update(customer_id, attention_reason=text)

    def set_client_secret(self, customer_id: int, client_secret_encrypted: str) -> None:
        """Store new (already encrypted) credentials and clear the attention reason they fix.

        A circuit held open for bad credentials becomes half-open: the next run probes them.
        """
        self._credentials_changed(customer_id, client_secret_encrypted=client_secret_encrypted)

    def set_entity_id(self, customer_id: int, entity_id: str | None) -> None:
        """Set (None: clear) the entity the customer's requests name; like new credentials,
        it clears the attention reason and lets a held circuit probe at the next run."""
        self._credentials_changed(customer_id, entity_id=entity_id)

    def _credentials_changed(self, customer_id: int, **values: Any) -> None:
        self._update(
            customer_id,
            **values,
            attention_reason=None,
            circuit_open_until=case(
                (CustomerRow.circuit_held, utc_now()), else_=CustomerRow.circuit_open_until
            ),
            circuit_held=False,
        )

    def set_pacing(
        self, customer_id: int, *, max_in_flight: int | None, tenant_type: TenantType | None
    ) -> None:
        """Set (None: back to the defaults) the requests in flight and the tenant type."""
        self._update(customer_id, **_pacing_values(max_in_flight, tenant_type))

    def record_failure(
        self,
        bind: Connection,
        customer_id: int,
        policy: CircuitPolicy,
        now: datetime,
        *,
        hold: bool = False,
        attention: str | None = None,
        counted: bool = False,
    ) -> RecordedFailure | None:
        """In the caller's transaction: count a finally failed run (unless `counted`: the
        ledger did) and move the circuit; `hold` for authentication and permission failures,
        `attention` to set the attention reason. None when the customer is gone."""
        return circuit.record_failure(
            bind, customer_id, policy, now, hold=hold, attention=attention, counted=counted
        )

    def record_success(self, bind: Connection, customer_id: int) -> PreviousState | None:
        """In the run's finishing transaction: close the circuit, zero the failures."""
        return circuit.close(bind, customer_id, clear_attention=False)

    def reset_circuit(self, customer_id: int) -> PreviousState:
        """The operator's reset: circuit closed, failures 0, attention reason cleared."""
        with writing(self._engine) as conn:
            previous = circuit.close(conn, customer_id, clear_attention=True)
        if previous is None:
            raise CustomerNotFoundError(f"no customer with id {customer_id}")
        return previous

    def circuit_skips(
        self, now: datetime, *, after_id: int = 0, limit: int = 1000
    ) -> builtins.list[CircuitSkip]:
        """Active customers a dispatch at `now` skips for an open or held circuit, in id order,
        with the reason (page with `after_id`)."""
        query = circuit.skips_query(now).where(CustomerRow.id > after_id)
        with reading(self._engine) as conn:
            rows = conn.execute(query.order_by(CustomerRow.id).limit(limit)).all()
        return [circuit.to_skip(row) for row in rows]

    def count_circuit_skips(self, now: datetime) -> int:
        """How many active customers a dispatch at `now` skips for their circuit."""
        skipped = circuit.skips_query(now).subquery()
        with reading(self._engine) as conn:
            return int(conn.execute(select(func.count()).select_from(skipped)).scalar_one())

    def remove(self, customer_id: int) -> None:
        """Delete the customer with all its runs, workflows, workflow history and tasks.

        Refused (CustomerBusyError, nothing deleted) while the customer has a queued or
        running run; CustomerNotFoundError for an unknown id.
        """
        with writing(self._engine) as conn:
            # FOR UPDATE (PostgreSQL) makes a concurrent dispatch of this customer wait.
            found = conn.execute(
                select(CustomerRow.id).where(CustomerRow.id == customer_id).with_for_update()
            ).first()
            if found is None:
                raise CustomerNotFoundError(f"no customer with id {customer_id}")
            if _has_active_run(conn, customer_id):
                raise CustomerBusyError(
                    f"customer {customer_id} has a queued or running sync run; retry later"
                )
            _delete_customer_rows(conn, customer_id)

    def iter_due(
        self,
        now: datetime,
        window_seconds: float,
        *,
        force: bool = False,
        batch_size: int = 1000,
    ) -> Iterator[DueCustomer]:
        """Active customers not synced since `now - window_seconds` (all active with `force`).

        Streams in id order, one keyset-paginated SELECT per batch in its own short
        transaction, so memory stays flat however many customers there are.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        after_id = 0
        while True:
            query = _due_query(now, now - timedelta(seconds=window_seconds), force, after_id)
            with reading(self._engine) as conn:
                rows = conn.execute(query.limit(batch_size)).all()
            yield from [DueCustomer(customer_id, name) for customer_id, name in rows]
            if len(rows) < batch_size:
                return
            after_id = rows[-1].id

    def count_due(self, now: datetime, window_seconds: float, *, force: bool = False) -> int:
        """How many customers `iter_due` would yield right now (one COUNT, no rows loaded)."""
        due = _due_query(now, now - timedelta(seconds=window_seconds), force, 0).subquery()
        with reading(self._engine) as conn:
            return int(conn.execute(select(func.count()).select_from(due)).scalar_one())

    def reencrypt_all(self, keyring: Keyring, *, batch_size: int = 500) -> int:
        """Re-encrypt every client secret under the keyring's newest key; returns the count.

        One transaction per batch: if it stops halfway, every row still decrypts with the
        keyring (old keys included), and running it again finishes the job.
        """
        count, after_id = 0, 0
        while True:
            with writing(self._engine) as conn:
                rows = conn.execute(
                    select(CustomerRow.id, CustomerRow.client_secret_encrypted)
                    .where(CustomerRow.id > after_id)
                    .order_by(CustomerRow.id)
                    .limit(batch_size)
                ).all()
                if not rows:
                    return count
                _store_tokens(conn, [(row.id, _rotate(keyring, row.id, row[1])) for row in rows])
            count += len(rows)
            after_id = rows[-1].id

    def _update(self, customer_id: int, **values: Any) -> None:
        with writing(self._engine) as conn:
            result = conn.execute(
                update(CustomerRow).where(CustomerRow.id == customer_id).values(**values)
            )
            if result.rowcount == 0:
                raise CustomerNotFoundError(f"no customer with id {customer_id}")


def _check_new_customer(name: str, customer_id: int | None) -> None:
    if not name or not name.strip() or len(name) > NAME_MAX_LENGTH:
        raise ConfigurationError(f"a customer name must be 1 to {NAME_MAX_LENGTH} characters")
    if customer_id is not None and not 1 <= customer_id <= _MAX_ID:
        raise ConfigurationError(f"a customer id must be between 1 and {_MAX_ID}")


def _refuse_duplicate(conn: Connection, name: str, customer_id: int | None) -> None:
    if conn.execute(select(CustomerRow.id).where(CustomerRow.name == name)).first():
        raise CustomerExistsError(f"customer {name!r} already exists")
    if (
        customer_id is not None
        and conn.execute(select(CustomerRow.id).where(CustomerRow.id == customer_id)).first()
    ):
        raise CustomerExistsError(f"customer id {customer_id} is already taken")


def _advance_id_sequence(conn: Connection) -> None:
    """After an explicit id, move PostgreSQL's sequence past it (SQLite needs nothing)."""
    if conn.dialect.name != "postgresql":
        return
    sequence = func.pg_get_serial_sequence("customers", "id")
    highest = select(func.max(CustomerRow.id)).scalar_subquery()
    conn.execute(select(func.setval(sequence, highest)))


def _require(conn: Connection, customer_id: int) -> Customer:
    row = conn.execute(select(_CUSTOMERS).where(CustomerRow.id == customer_id)).one()
    return _to_customer(row._mapping)


def _has_active_run(conn: Connection, customer_id: int) -> bool:
    query = select(SyncRunRow.id).where(
        SyncRunRow.customer_id == customer_id, SyncRunRow.status.in_(ACTIVE_RUN_STATUSES)
    )
    return conn.execute(query.limit(1)).first() is not None


def _delete_customer_rows(conn: Connection, customer_id: int) -> None:
    workflow_ids = select(WorkflowRow.id).where(WorkflowRow.customer_id == customer_id)
    conn.execute(delete(WorkflowTaskRow).where(WorkflowTaskRow.workflow_id.in_(workflow_ids)))
    conn.execute(delete(WorkflowHistoryRow).where(WorkflowHistoryRow.workflow_id.in_(workflow_ids)))
    conn.execute(delete(WorkflowRow).where(WorkflowRow.customer_id == customer_id))
    conn.execute(delete(SyncRunRow).where(SyncRunRow.customer_id == customer_id))
    conn.execute(delete(CustomerRow).where(CustomerRow.id == customer_id))


def _due_query(now: datetime, cutoff: datetime, force: bool, after_id: int) -> Select[int, str]:
    """Active customers whose circuit allows a dispatch at `now` (`--force` does not open a
    circuit: `workflow-sync customers reset ID` does), not synced since `cutoff` unless forced."""
    query = select(CustomerRow.id, CustomerRow.name).where(
        CustomerRow.sync_status == CustomerStatus.ACTIVE.value,
        CustomerRow.id > after_id,
        circuit.circuit_allows_dispatch(now),
    )
    if not force:
        query = query.where(
            or_(CustomerRow.last_synced_at.is_(None), CustomerRow.last_synced_at <= cutoff)
        )
    return query.order_by(CustomerRow.id)


def _rotate(keyring: Keyring, customer_id: int, token: str) -> str:
    try:
        return keyring.rotate(token)
    except SecretsError:
        raise SecretsError(
            f"cannot re-encrypt the client secret of customer {customer_id}: "
            "wrong or missing encryption key"
        ) from None


def _store_tokens(conn: Connection, tokens: list[tuple[int, str]]) -> None:
    statement = (
        update(CustomerRow)
        .where(CustomerRow.id == bindparam("b_id"))
        .values(client_secret_encrypted=bindparam("b_token"), updated_at=bindparam("b_now"))
    )
    now = utc_now()
    conn.execute(statement, [{"b_id": i, "b_token": t, "b_now": now} for i, t in tokens])


def _pacing_values(max_in_flight: int | None, tenant_type: TenantType | None) -> dict[str, Any]:
    if max_in_flight is not None and not 1 <= max_in_flight <= MAX_IN_FLIGHT_LIMIT:
        raise ConfigurationError(f"max in flight must be between 1 and {MAX_IN_FLIGHT_LIMIT}")
    return {
        "max_in_flight": max_in_flight,
        "tenant_type": None if tenant_type is None else TenantType(tenant_type).value,
    }


def _to_customer(row: RowMapping) -> Customer:
    return Customer(
        id=row["id"],
        name=row["name"],
        sync_status=CustomerStatus(row["sync_status"]),
        zuora_base_url=row["zuora_base_url"],
        zuora_environment=row["zuora_environment"],
        client_id=row["client_id"],
        entity_id=row["entity_id"],
        last_synced_at=row["last_synced_at"],
        consecutive_failures=row["consecutive_failures"],
        attention_reason=row["attention_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        client_secret_encrypted=row["client_secret_encrypted"],
        circuit_open_until=row["circuit_open_until"],
        circuit_opened_count=row["circuit_opened_count"],
        circuit_held=bool(row["circuit_held"]),
        max_in_flight=row["max_in_flight"],
        tenant_type=None if row["tenant_type"] is None else TenantType(row["tenant_type"]),
    )
