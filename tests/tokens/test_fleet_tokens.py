"""Tokens against the simulator, through the real sync job (`execute_run`), on each backend.

A token that expires in the middle of a sync is renewed exactly once, and 8 workers syncing one
customer's workflows for an hour (scaled down: the token lifetime and the renewal margin shrink
with it) need at most 2 tokens. The token store is Redis database 10 on the PostgreSQL + Redis
backend and the SQLite coordination file under ZWS_HOME on the SQLite one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.backends import Backend
from zuora_workflow_sync.coordination.connect import parse_coordination_url
from zuora_workflow_sync.coordination.tokens import shared_tokens
from zuora_workflow_sync.domain.models import Customer, RunRequest, RunTrigger
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorServer
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.sync.job import RunOutcome, execute_run
from zuora_workflow_sync.zuora.auth import SharedToken, TenantCredentials

from .conftest import raw_contents

TENANT = "tenant-001"  # a production tenant: its API quotas leave room for 8 workers
WORKERS = 8
# One simulated hour: tokens live 9 s instead of 3599 s, so the client renews 0.9 s early (a
# tenth of a short lifetime) instead of 300 s; 3600 s of the fleet's time is 9.0 s of ours.
TOKEN_TTL_SECONDS = 9
SCALED_HOUR_SECONDS = 3600 * TOKEN_TTL_SECONDS / 3599


@pytest.fixture
def settings(tmp_path: Path, backend: Backend, request: pytest.FixtureRequest) -> Settings:
    values: dict[str, Any] = {
        "home": tmp_path / "home",
        "secret_keys": SecretStr(Keyring.generate_key()),
        "http_max_attempts": 2,
        "http_backoff_base_seconds": 0.01,
        "http_backoff_cap_seconds": 0.05,
        **backend.settings_fields,
    }
    if backend.name != "sqlite":
        values["coordination_url"] = request.getfixturevalue("coordination_redis_url")
    return Settings(**values)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    with build_runtime(settings) as built:
        yield built


def add_customer(runtime: Runtime, sim: SimulatorAdmin, name: str) -> Customer:
    credentials = sim.credentials(TENANT)
    return runtime.customers.add(
        name,
        zuora_base_url=credentials.base_url,
        client_id=credentials.client_id,
        client_secret_encrypted=runtime.keyring.encrypt(SecretStr(credentials.client_secret)),
    )


def sync_now(runtime: Runtime, customer_id: int) -> RunOutcome:
    """Record a run and execute it in this thread, as one worker slot does."""
    recorded = runtime.ledger.record_batch(
        [RunRequest(customer_id, datetime.now(UTC), True)],
        queue="workflows",
        trigger=RunTrigger.COMMAND,
        dispatched_by="test",
        max_attempts=1,
    ).recorded
    assert recorded, f"customer {customer_id} already has an active run"
    return execute_run(
        runtime, recorded[0].run_id, worker_id="test", requeue=lambda run, delay: None
    )


def tokens_issued(sim: SimulatorAdmin) -> int:
    return int(sim.stats()["tenants"].get(TENANT, {}).get("tokens_issued", 0))


def unauthorized(sim: SimulatorAdmin) -> int:
    """Data calls refused for want of a valid token (counted under tenant `-`)."""
    routes = sim.stats()["tenants"].get("-", {}).get("requests", {})
    return sum(by_status.get("401", 0) for route, by_status in routes.items() if route != "token")


def exports(sim: SimulatorAdmin) -> int:
    by_status = sim.stats()["tenants"].get(TENANT, {}).get("requests", {}).get("export", {})
    return sum(by_status.values())


class ClockJump(threading.Thread):
    """Moves the simulator's clock an hour ahead once `after` exports have been answered."""

    def __init__(self, base_url: str, after: int) -> None:
        super().__init__(daemon=True)
        self._base_url = base_url
        self._after = after
        self.stop = threading.Event()
        self.exports_at_jump: int | None = None

    def run(self) -> None:
        with SimulatorAdmin(self._base_url) as admin:
            while not self.stop.is_set():
                done = exports(admin)
                if done >= self._after:
                    admin.advance_clock(3600)  # every token issued so far has now expired
                    self.exports_at_jump = done
                    return
                time.sleep(0.005)


def shared_token(settings: Settings, keyring: Keyring, credentials: TenantCredentials) -> str:
    """The token the store holds for `credentials` (decrypted, for the secrecy check only)."""

    async def nothing_stored() -> SharedToken:
        raise AssertionError("the store holds no token")

    async def read() -> str:
        target = parse_coordination_url(settings.resolved_coordination_url)
        async with shared_tokens(target, keyring) as store:
            token = await store.obtain(credentials.cache_key, nothing_stored)
            return token.value.get_secret_value()

    return asyncio.run(read())


def test_one_renewal_when_the_token_expires_in_the_middle_of_a_sync(
    runtime: Runtime,
    settings: Settings,
    simulator: SimulatorServer,
    sim: SimulatorAdmin,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    workflows = 150
    sim.set_workflow_count(TENANT, workflows)
    sim.update_settings(latency_ms=5)  # long enough a sync for the clock to jump mid-way
    customer = add_customer(runtime, sim, "Acme")
    before = tokens_issued(sim)
    jump = ClockJump(simulator.base_url, after=workflows // 4)
    jump.start()
    try:
        with caplog.at_level(logging.DEBUG):
            outcome = sync_now(runtime, customer.id)
    finally:
        jump.stop.set()
        jump.join(10)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.counts.listed == workflows
    assert jump.exports_at_jump is not None and jump.exports_at_jump < workflows
    assert tokens_issued(sim) - before == 2  # the first token and exactly one renewal
    assert unauthorized(sim) <= settings.export_concurrency + 1  # only the calls in flight
    _assert_no_secret_shown(runtime, settings, sim, caplog.text + "".join(capfd.readouterr()))


def _assert_no_secret_shown(
    runtime: Runtime, settings: Settings, sim: SimulatorAdmin, output: str
) -> None:
    credentials = sim.credentials(TENANT)
    zuora_credentials = TenantCredentials(
        credentials.base_url, credentials.client_id, SecretStr(credentials.client_secret)
    )
    token = shared_token(settings, runtime.keyring, zuora_credentials)
    target = parse_coordination_url(settings.resolved_coordination_url)
    at_rest = " ".join(raw_contents(target))
    for secret in (token, credentials.client_secret):
        assert secret not in output
        assert secret not in at_rest
    assert credentials.client_id not in at_rest


def test_at_most_two_tokens_when_eight_workers_sync_one_customer_for_an_hour(
    runtime: Runtime, sim: SimulatorAdmin
) -> None:
    sim.update_settings(token_ttl_seconds=TOKEN_TTL_SECONDS)
    sim.set_workflow_count(TENANT, 60)
    sim.set_concurrency_limit(TENANT, 200)  # 8 workers x 4 exports: not the subject here
    # Eight customer rows on one Zuora tenant and OAuth client, so the ledger lets all eight
    # workers sync at once (it allows one active run per customer row).
    customers = [add_customer(runtime, sim, f"Acme worker {n}") for n in range(WORKERS)]
    before = tokens_issued(sim)
    outcomes = _sync_until(runtime, customers, time.monotonic() + SCALED_HOUR_SECONDS)
    failed = [outcome.error for outcome in outcomes if outcome.status != "succeeded"]
    assert not failed
    assert len(outcomes) >= WORKERS
    assert tokens_issued(sim) - before == 2  # at most 2; here the hour outlives one token
    # Renewed ahead of expiry: a refusal needs a request slower than the scaled margin (0.9 s),
    # which a loaded machine can produce; each worker renews through the shared token anyway.
    assert unauthorized(sim) <= WORKERS


def _sync_until(runtime: Runtime, customers: list[Customer], deadline: float) -> list[RunOutcome]:
    """Each customer synced again and again by its own thread (its own event loop per sync)."""
    outcomes: list[RunOutcome] = []
    start = threading.Barrier(len(customers))

    def worker(customer: Customer) -> None:
        start.wait(30)
        while time.monotonic() < deadline:
            outcomes.append(sync_now(runtime, customer.id))

    threads = [threading.Thread(target=worker, args=(customer,)) for customer in customers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes
