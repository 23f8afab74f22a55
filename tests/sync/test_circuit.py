"""The circuit breaker against the simulator: K failed runs open it and alert once, dispatch
skips it until the cool-down ends, a failed probe reopens it for longer, a good probe closes it
with one resolved notice; 401/403 hold it until new credentials or `customers reset`."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from tests.backends import Backend
from zuora_workflow_sync.cli import app
from zuora_workflow_sync.domain.circuit import Circuit
from zuora_workflow_sync.domain.models import Customer, RunRequest, RunTrigger
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.circuit import circuit_allows_dispatch
from zuora_workflow_sync.store.tables import CustomerRow
from zuora_workflow_sync.sync.job import execute_run

from .conftest import TEST_KEY, AddCustomer, make_settings

COOLDOWN = 600.0
OPEN_UNTIL = re.compile(r"^circuit open until \d{4}-\d\d-\d\d \d\d:\d\d UTC$")
WORKFLOW_VIEW = "the Zuora user lacks Workflow View Access"


@pytest.fixture
def guarded(tmp_path: Path, backend: Backend, webhook: tuple[str, list[str]]) -> Iterator[Runtime]:
    """A runtime with 3 attempts a run (retries due at once), K = 3, and the webhook."""
    settings = make_settings(
        tmp_path,
        http_max_attempts=1,
        retry_base_seconds=0,
        circuit_failure_threshold=3,
        circuit_cooldown_seconds=COOLDOWN,
        alert_webhook_url=SecretStr(webhook[0]),
        **backend.settings_fields,
    )
    with build_runtime(settings) as runtime:
        yield runtime


@pytest.fixture(autouse=True)
def _restore_simulator(sim_admin: SimulatorAdmin) -> Iterator[None]:
    yield
    sim_admin.reset()


def _sync(runtime: Runtime, customer_id: int) -> str:
    """Dispatch one run and execute it, and its retries, as workers would: its final status."""
    (recorded,) = runtime.ledger.record_batch(
        [RunRequest(customer_id, datetime.now(UTC))],
        queue="workflows",
        trigger=RunTrigger.COMMAND,
        dispatched_by="test",
        max_attempts=3,
    ).recorded
    queue = [recorded.run_id]
    while queue:
        outcome = execute_run(
            runtime, queue.pop(), worker_id="w", requeue=lambda r, d: queue.append(r)
        )
    return outcome.status


def _dispatchable(runtime: Runtime, now: datetime) -> list[int]:
    query = select(CustomerRow.id).where(circuit_allows_dispatch(now)).order_by(CustomerRow.id)
    with runtime.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def _customer(runtime: Runtime, customer_id: int) -> Customer:
    customer = runtime.customers.get(customer_id)
    assert customer is not None
    return customer


def test_circuit_opens_after_k_failed_runs_alerts_once_and_closes_after_recovery(
    guarded: Runtime,
    add_customer: AddCustomer,
    sim_admin: SimulatorAdmin,
    webhook: tuple[str, list[str]],
) -> None:
    _, received = webhook
    failing, healthy = add_customer("tenant-002"), add_customer("tenant-003")
    sim_admin.add_fault("status", tenant="tenant-002", status=500)

    assert [_sync(guarded, failing.id) for _ in range(2)] == ["failed", "failed"]
    assert received == [] and _customer(guarded, failing.id).circuit == Circuit()
    opened_at = datetime.now(UTC)
    assert _sync(guarded, failing.id) == "failed"

    stored = _customer(guarded, failing.id)
    assert stored.consecutive_failures == 3 and stored.circuit_opened_count == 1
    assert stored.circuit_open_until is not None
    assert opened_at + timedelta(seconds=COOLDOWN - 1) < stored.circuit_open_until
    assert len(received) == 1
    assert "3 consecutive failed runs; circuit open until" in received[0]
    assert failing.name in received[0] and "500" in received[0]
    now = datetime.now(UTC)
    (skip,) = guarded.customers.circuit_skips(now)
    assert (skip.customer_id, skip.name) == (failing.id, failing.name)
    assert OPEN_UNTIL.match(skip.reason), skip.reason
    assert _dispatchable(guarded, now) == [healthy.id]

    # Past the cool-down the circuit is half-open: the next dispatch is the probe.
    after = stored.circuit_open_until + timedelta(seconds=1)
    assert _dispatchable(guarded, after) == [failing.id, healthy.id]
    assert guarded.customers.count_circuit_skips(after) == 0
    assert _sync(guarded, failing.id) == "failed"  # the probe fails: open again, for longer
    reopened = _customer(guarded, failing.id)
    assert reopened.circuit_opened_count == 2 and reopened.circuit_open_until is not None
    longer = (reopened.circuit_open_until - datetime.now(UTC)).total_seconds()
    assert 2 * COOLDOWN - 60 < longer <= 2 * COOLDOWN
    assert len(received) == 1  # the same incident: no second alert

    sim_admin.clear_faults()
    assert _sync(guarded, failing.id) == "succeeded"
    closed = _customer(guarded, failing.id)
    assert closed.circuit == Circuit() and closed.consecutive_failures == 0
    assert len(received) == 2 and "recovered" in received[1]
    assert "4 consecutive failed runs" in received[1]
    assert _sync(guarded, failing.id) == "succeeded" and len(received) == 2


def test_permission_denied_holds_the_circuit_until_an_operator_resets_it(
    guarded: Runtime,
    add_customer: AddCustomer,
    sim_admin: SimulatorAdmin,
    webhook: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, received = webhook
    customer = add_customer("tenant-001")
    sim_admin.forbid("tenant-001")

    assert _sync(guarded, customer.id) == "failed"  # a 403 is not retried

    held = _customer(guarded, customer.id)
    assert held.circuit_held and held.attention_reason == WORKFLOW_VIEW
    assert len(received) == 1 and "circuit open until the credentials change" in received[0]
    next_month = datetime.now(UTC) + timedelta(days=30)
    (skip,) = guarded.customers.circuit_skips(next_month)
    assert skip.reason == (
        "circuit open until the credentials change or an operator resets it "
        f"(workflow-sync customers reset {customer.id})"
    )
    assert _dispatchable(guarded, next_month) == []
    assert _sync(guarded, customer.id) == "failed" and len(received) == 1  # forced: no new alert

    for name in [name for name in os.environ if name.startswith("ZWS_")]:
        monkeypatch.delenv(name)
    environment = {
        "ZWS_HOME": str(tmp_path / "cli"),
        "ZWS_DATABASE_URL": str(guarded.settings.database_url),
        "ZWS_QUEUE_URL": str(guarded.settings.queue_url),
        "ZWS_SECRET_KEYS": TEST_KEY,
        "ZWS_ALERT_WEBHOOK_URL": url,
    }
    runner = CliRunner()
    result = runner.invoke(app, ["customers", "reset", str(customer.id)], env=environment)
    unknown = runner.invoke(app, ["customers", "reset", "999"], env=environment)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Circuit of customer {customer.id} reset: ")
    assert len(result.stdout.splitlines()) == 1 and "was held" in result.stdout
    assert (unknown.exit_code, unknown.stderr) == (1, "Error: no customer with id 999\n")
    reset = _customer(guarded, customer.id)
    assert reset.circuit == Circuit() and reset.attention_reason is None
    assert reset.consecutive_failures == 0
    assert len(received) == 2 and "reset by an operator" in received[1]

    sim_admin.forbid("tenant-001", False)
    assert _sync(guarded, customer.id) == "succeeded" and len(received) == 2


def test_new_credentials_turn_a_held_circuit_half_open_and_a_good_probe_closes_it(
    guarded: Runtime,
    add_customer: AddCustomer,
    sim_admin: SimulatorAdmin,
    webhook: tuple[str, list[str]],
) -> None:
    _, received = webhook
    customer = add_customer("tenant-001", secret="not-the-secret")

    assert _sync(guarded, customer.id) == "failed"  # 401: not retried, held

    held = _customer(guarded, customer.id)
    assert held.circuit_held and held.attention_reason == "Zuora rejected the client credentials"
    assert len(received) == 1
    right = sim_admin.credentials("tenant-001").client_secret
    guarded.customers.set_client_secret(customer.id, guarded.keyring.encrypt(SecretStr(right)))

    probing = _customer(guarded, customer.id)
    assert not probing.circuit_held and probing.attention_reason is None
    assert _dispatchable(guarded, datetime.now(UTC) + timedelta(seconds=1)) == [customer.id]
    assert _sync(guarded, customer.id) == "succeeded"
    assert _customer(guarded, customer.id).circuit == Circuit()
    assert len(received) == 2 and "recovered" in received[1]


@pytest.mark.parametrize(
    ("entity_id", "reason"),
    [
        (
            None,
            "the tenant has several entities and the customer has no entity id "
            "(customers check lists them, customers set-entity sets one)",
        ),
        (
            "00000000-0000-4000-8000-000000000000",
            "Zuora refused the customer's entity id 00000000-0000-4000-8000-000000000000",
        ),
    ],
    ids=["no-entity-id", "entity-id-refused"],
)
def test_an_entity_problem_is_named_in_the_attention_reason_when_runs_fail(
    guarded: Runtime, sim_admin: SimulatorAdmin, entity_id: str | None, reason: str
) -> None:
    sim_admin.create_tenant("multi", workflows=3, entity_count=3)
    credentials = sim_admin.credentials("multi")
    customer = guarded.customers.add(
        "Multi-entity",
        zuora_base_url=credentials.base_url,
        client_id=credentials.client_id,
        client_secret_encrypted=guarded.keyring.encrypt(SecretStr(credentials.client_secret)),
        entity_id=entity_id,
    )

    assert _sync(guarded, customer.id) == "failed"

    assert _customer(guarded, customer.id).attention_reason == reason
