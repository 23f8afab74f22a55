"""Circuit persistence: failures open it, the dispatch condition and the skip reasons follow,
success and reset close it, new credentials make a held circuit half-open; pacing columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from zuora_workflow_sync.domain.circuit import Circuit, CircuitEvent, CircuitPolicy
from zuora_workflow_sync.domain.models import CustomerStatus, TenantType
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store.circuit import CircuitSkip, circuit_allows_dispatch
from zuora_workflow_sync.store.customers import CustomerNotFoundError, CustomerRepository
from zuora_workflow_sync.store.engine import writing
from zuora_workflow_sync.store.tables import CustomerRow

from .factories import add_customer

NOW = datetime(2026, 11, 29, 13, 55, tzinfo=UTC)
POLICY = CircuitPolicy(failure_threshold=3, cooldown_seconds=600, cooldown_max_seconds=3600)


def _fail(engine: Engine, customer_id: int, *, hold: bool = False, at: datetime = NOW) -> object:
    with writing(engine) as conn:
        recorded = CustomerRepository(engine).record_failure(
            conn, customer_id, POLICY, at, hold=hold, attention="why" if hold else None
        )
    assert recorded is not None
    return recorded.change.event


def _allowed(engine: Engine, now: datetime) -> list[int]:
    query = select(CustomerRow.id).where(circuit_allows_dispatch(now)).order_by(CustomerRow.id)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def test_circuit_opens_at_the_threshold_and_blocks_dispatch_until_the_cooldown_ends(
    engine: Engine,
) -> None:
    acme, globex = add_customer(engine, "acme"), add_customer(engine, "globex")
    events = [_fail(engine, acme.id) for _ in range(3)]
    repository = CustomerRepository(engine)

    assert events == [None, None, CircuitEvent.OPENED]
    stored = repository.get(acme.id)
    assert stored is not None and stored.consecutive_failures == 3
    assert stored.circuit == Circuit(NOW + timedelta(seconds=600), 1, False)
    assert _allowed(engine, NOW) == [globex.id]
    assert repository.circuit_skips(NOW) == [
        CircuitSkip(acme.id, "acme", "circuit open until 2026-11-29 14:05 UTC")
    ]
    assert repository.count_circuit_skips(NOW) == 1
    after = NOW + timedelta(seconds=600)
    assert _allowed(engine, after) == [acme.id, globex.id]
    assert repository.circuit_skips(after) == [] and repository.count_circuit_skips(after) == 0


def test_failed_probe_reopens_for_longer_and_success_closes_when_recorded(engine: Engine) -> None:
    acme = add_customer(engine, "acme")
    for _ in range(3):
        _fail(engine, acme.id)
    probe_at = NOW + timedelta(seconds=601)
    assert _fail(engine, acme.id, at=probe_at) is CircuitEvent.REOPENED
    repository = CustomerRepository(engine)
    stored = repository.get(acme.id)
    assert stored is not None
    assert stored.circuit == Circuit(probe_at + timedelta(seconds=1200), 2, False)

    with writing(engine) as conn:
        previous = repository.record_success(conn, acme.id)
    assert previous is not None
    assert (previous.consecutive_failures, previous.circuit) == (4, stored.circuit)
    closed = repository.get(acme.id)
    assert closed is not None and closed.circuit == Circuit() and closed.consecutive_failures == 0


def test_auth_failure_holds_until_new_credentials_make_it_half_open(engine: Engine) -> None:
    acme = add_customer(engine, "acme")
    assert _fail(engine, acme.id, hold=True) is CircuitEvent.OPENED
    repository = CustomerRepository(engine)
    far = NOW + timedelta(days=30)
    assert _allowed(engine, far) == []
    (skip,) = repository.circuit_skips(far)
    assert skip.reason.startswith("circuit open until the credentials change")
    held = repository.get(acme.id)
    assert held is not None and held.attention_reason == "why" and held.circuit_held

    repository.set_client_secret(acme.id, "gAAAAA-new-token")

    probing = repository.get(acme.id)
    assert probing is not None and not probing.circuit_held
    assert probing.attention_reason is None and probing.circuit_open_until is not None
    assert _allowed(engine, datetime.now(UTC) + timedelta(seconds=1)) == [acme.id]


def test_reset_closes_any_circuit_and_clears_attention_when_asked(engine: Engine) -> None:
    acme = add_customer(engine, "acme")
    _fail(engine, acme.id, hold=True)
    repository = CustomerRepository(engine)

    previous = repository.reset_circuit(acme.id)

    assert previous.circuit.held and previous.consecutive_failures == 1
    reset = repository.get(acme.id)
    assert reset is not None and reset.circuit == Circuit()
    assert (reset.consecutive_failures, reset.attention_reason) == (0, None)
    with pytest.raises(CustomerNotFoundError):
        repository.reset_circuit(999)


def test_paused_customers_are_not_listed_as_skipped_when_their_circuit_is_open(
    engine: Engine,
) -> None:
    acme = add_customer(engine, "acme")
    _fail(engine, acme.id, hold=True)
    repository = CustomerRepository(engine)
    repository.set_status(acme.id, CustomerStatus.PAUSED)
    assert repository.circuit_skips(NOW) == [] and repository.count_circuit_skips(NOW) == 0


def test_counted_failure_moves_only_the_circuit_when_the_ledger_counted_it(
    engine: Engine,
) -> None:
    acme = add_customer(engine, "acme")
    _fail(engine, acme.id)
    _fail(engine, acme.id)
    repository = CustomerRepository(engine)
    with writing(engine) as conn:
        conn.execute(update(CustomerRow).values(consecutive_failures=3))  # the ledger's count
        recorded = repository.record_failure(conn, acme.id, POLICY, NOW, counted=True)
    assert recorded is not None and recorded.consecutive_failures == 3
    assert recorded.change.event is CircuitEvent.OPENED
    with writing(engine) as conn:
        assert repository.record_failure(conn, 999, POLICY, NOW) is None


def test_pacing_is_stored_and_cleared_when_set(engine: Engine) -> None:
    acme = add_customer(engine, "acme", max_in_flight=8, tenant_type=TenantType.API_SANDBOX)
    assert (acme.max_in_flight, acme.tenant_type) == (8, TenantType.API_SANDBOX)
    repository = CustomerRepository(engine)
    repository.set_pacing(acme.id, max_in_flight=None, tenant_type=TenantType.PRODUCTION)
    stored = repository.get(acme.id)
    assert stored is not None
    assert (stored.max_in_flight, stored.tenant_type) == (None, TenantType.PRODUCTION)
    with pytest.raises(ConfigurationError, match="between 1 and 40"):
        repository.set_pacing(acme.id, max_in_flight=41, tenant_type=None)
    with pytest.raises(CustomerNotFoundError):
        repository.set_pacing(999, max_in_flight=2, tenant_type=None)
