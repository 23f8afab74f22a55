"""Fixtures for sync tests: a runtime on each backend (SQLite, PostgreSQL + Redis), customers on
the simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.backends import Backend
from tests.webhooks import webhook_receiver
from zuora_workflow_sync.domain.models import Customer, RecordedRun, RunRequest, RunTrigger
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.sync.job import RunOutcome, execute_run

TEST_KEY = Keyring.generate_key()


def make_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "secret_keys": SecretStr(TEST_KEY),
        "http_max_attempts": 2,
        "http_backoff_base_seconds": 0.01,
        "http_backoff_cap_seconds": 0.05,
        "log_json": True,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[str]]]:
    """A local Slack-compatible receiver: its URL and the texts it received."""
    with webhook_receiver() as hook:
        yield hook


@pytest.fixture
def settings(tmp_path: Path, backend: Backend) -> Settings:
    return make_settings(tmp_path, **backend.settings_fields)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    with build_runtime(settings) as built:
        yield built


AddCustomer = Callable[..., Customer]


@pytest.fixture
def add_customer(runtime: Runtime, sim_admin: SimulatorAdmin) -> AddCustomer:
    """Register a simulated tenant as a customer, its secret encrypted as in production."""

    def add(tenant: str, *, name: str | None = None, secret: str | None = None) -> Customer:
        credentials = sim_admin.credentials(tenant)
        multi = bool(sim_admin.tenant(tenant)["multi_entity"])
        return runtime.customers.add(
            name or f"Customer of {tenant}",
            zuora_base_url=credentials.base_url,
            client_id=credentials.client_id,
            client_secret_encrypted=runtime.keyring.encrypt(
                SecretStr(secret or credentials.client_secret)
            ),
            entity_id=credentials.entity_ids[0] if multi else None,
        )

    return add


def record_run(runtime: Runtime, customer_id: int, *, full: bool = False) -> RecordedRun:
    from datetime import UTC, datetime

    result = runtime.ledger.record_batch(
        [RunRequest(customer_id, datetime.now(UTC), full)],
        queue="workflows",
        trigger=RunTrigger.COMMAND,
        dispatched_by="test",
        max_attempts=3,
    )
    assert result.recorded, f"customer {customer_id} already has an active run"
    return result.recorded[0]


def sync_now(runtime: Runtime, customer_id: int, *, full: bool = False) -> RunOutcome:
    """Record a run and execute it in this process, as a worker would."""
    run = record_run(runtime, customer_id, full=full)
    requeued: list[int] = []
    outcome = execute_run(
        runtime, run.run_id, worker_id="test-worker", requeue=lambda r, d: requeued.append(r)
    )
    assert not requeued
    return outcome
