"""Bad credentials through the simulator, as workers meet them run after run: a wrong secret
(401), a revoked client, a user without Workflow View Access (403), a token endpoint answering
429, a multi-entity tenant without an entity id. Each: every run failed with a clear reason,
the customer marked, a bounded number of token requests (no retry storm), one alert.

Already covered elsewhere, not repeated here: one token call per failed client call
(tests/integration/test_client_auth.py), the circuit held for 401/403 and released by new
credentials or a reset (tests/sync/test_circuit.py), `customers check`/`add` refusing these
before anything is stored (tests/cli/test_check.py, tests/sync/test_check.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.backends import Backend
from tests.webhooks import webhook_receiver
from zuora_workflow_sync.domain.models import Customer, RunRequest, RunTrigger
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.sync.job import execute_run

RUNS = 4  # one more than the circuit's threshold
MAX_ATTEMPTS = 3
HTTP_ATTEMPTS = 2
KEY = Keyring.generate_key()


@dataclass(frozen=True)
class Case:
    """How the credentials go wrong, and what the operator must be told."""

    name: str
    tenant: str
    spoil: Callable[[SimulatorAdmin, str], None]
    reason: str  # in every run's error
    attention: str | None  # the customer's attention reason
    secret: str | None = None
    multi_entity: bool = False
    # Token requests one run may make at most (no retry storm).
    token_requests_per_run: int = 1


def _nothing(admin: SimulatorAdmin, tenant: str) -> None:
    """The credentials themselves are wrong; the tenant is fine."""


def _revoke(admin: SimulatorAdmin, tenant: str) -> None:
    admin.revoke(tenant)


def _forbid(admin: SimulatorAdmin, tenant: str) -> None:
    admin.forbid(tenant)


def _token_429(admin: SimulatorAdmin, tenant: str) -> None:
    admin.add_fault("too_many_requests", route="token", retry_after=1)


CASES = [
    Case(
        "wrong-secret",
        "tenant-001",
        _nothing,
        "Authentication",
        "Zuora rejected the client credentials",
        secret="not-the-secret-123",
    ),
    Case(
        "revoked-client",
        "tenant-001",
        _revoke,
        "Authentication",
        "Zuora rejected the client credentials",
    ),
    Case(
        "no-workflow-view-access",
        "tenant-001",
        _forbid,
        "HTTP 403",
        "the Zuora user lacks Workflow View Access",
    ),
    Case(
        "token-429",
        "tenant-001",
        _token_429,
        "429",
        None,
        token_requests_per_run=HTTP_ATTEMPTS * MAX_ATTEMPTS,
    ),
    Case(
        "multi-entity-without-entity-id",
        "multi",
        _nothing,
        "Zuora-Entity-Ids header is required",
        "the tenant has several entities and the customer has no entity id "
        "(customers check lists them, customers set-entity sets one)",
        multi_entity=True,
    ),
]


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[str]]]:
    with webhook_receiver() as hook:
        yield hook


@pytest.fixture
def guarded(
    tmp_path: Path, backend: Backend, webhook: tuple[str, list[str]], sim_admin: SimulatorAdmin
) -> Iterator[Runtime]:
    values: dict[str, Any] = {
        "home": tmp_path,
        "secret_keys": SecretStr(KEY),
        "http_max_attempts": HTTP_ATTEMPTS,
        "http_backoff_base_seconds": 0.01,
        "http_backoff_cap_seconds": 0.05,
        "retry_base_seconds": 0,
        "circuit_failure_threshold": 3,
        "alert_webhook_url": SecretStr(webhook[0]),
        **backend.settings_fields,
    }
    with build_runtime(Settings(**values)) as runtime:
        yield runtime
    sim_admin.reset()


def _customer(runtime: Runtime, admin: SimulatorAdmin, case: Case) -> Customer:
    if case.multi_entity:
        admin.create_tenant(case.tenant, workflows=3, entity_count=3)
    credentials = admin.credentials(case.tenant)
    return runtime.customers.add(
        case.name,
        zuora_base_url=credentials.base_url,
        client_id=credentials.client_id,
        client_secret_encrypted=runtime.keyring.encrypt(
            SecretStr(case.secret or credentials.client_secret)
        ),
        entity_id=None,
    )


def _run_to_its_end(runtime: Runtime, customer_id: int) -> tuple[str, str | None]:
    """One dispatched run and its retries, executed as workers would: its status and error."""
    (recorded,) = runtime.ledger.record_batch(
        [RunRequest(customer_id, datetime.now(UTC))],
        queue="workflows",
        trigger=RunTrigger.COMMAND,
        dispatched_by="test",
        max_attempts=MAX_ATTEMPTS,
    ).recorded
    queue: list[tuple[int, float]] = [(recorded.run_id, 0.0)]
    for _ in range(2 * MAX_ATTEMPTS):
        if not queue:
            break
        run_id, delay = queue.pop()
        time.sleep(min(delay, 5.0))  # a worker takes the job when it is due
        execute_run(runtime, run_id, worker_id="w", requeue=lambda r, d: queue.append((r, d)))
    assert not queue, "the run must end after its attempts"
    run = runtime.ledger.get(recorded.run_id)
    assert run is not None
    return run.status.value, run.error_message


def _token_requests(admin: SimulatorAdmin) -> int:
    tenants = admin.stats()["tenants"].values()
    return sum(sum(t["requests"].get("token", {}).values()) for t in tenants)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_credentials_fail_each_run_clearly_without_a_retry_storm_and_alert_once(
    guarded: Runtime,
    sim_admin: SimulatorAdmin,
    webhook: tuple[str, list[str]],
    case: Case,
) -> None:
    customer = _customer(guarded, sim_admin, case)
    case.spoil(sim_admin, case.tenant)
    sim_admin.reset_stats()

    ended = [_run_to_its_end(guarded, customer.id) for _ in range(RUNS)]

    for status, error in ended:
        assert status == "failed"
        assert error is not None and case.reason in error, error
    assert _token_requests(sim_admin) <= RUNS * case.token_requests_per_run
    marked = guarded.customers.get(customer.id)
    assert marked is not None and not marked.circuit.is_closed
    assert marked.attention_reason == case.attention
    _, received = webhook
    assert len(received) == 1, received
    assert customer.name in received[0] and case.reason in received[0]
