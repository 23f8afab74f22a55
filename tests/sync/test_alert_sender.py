"""A worker posts failure alerts off its job threads: with a slow webhook, the next job starts
at once, and every alert still arrives (the worker delivers what is queued before it exits)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from tests.webhooks import webhook_receiver
from zuora_workflow_sync.cli.app import app
from zuora_workflow_sync.cli.sync_workflows import app as sync_app
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.monitoring.alerts import BackgroundPoster
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.settings import load_settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.secrets import Keyring

WEBHOOK_DELAY_SECONDS = 3.0
TENANTS = ("tenant-001", "tenant-002")


@pytest.fixture
def slow_webhook() -> Iterator[tuple[str, list[str]]]:
    with webhook_receiver(delay_seconds=WEBHOOK_DELAY_SECONDS) as hook:
        yield hook


@pytest.fixture
def forbidden_customers(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sim_admin: SimulatorAdmin,
    slow_webhook: tuple[str, list[str]],
) -> Iterator[None]:
    """Two customers whose Zuora user lacks Workflow View Access (each failure alerts), one
    job at a time, the slow webhook configured."""
    values = {
        "ZWS_HOME": str(tmp_path),
        "ZWS_SECRET_KEYS": Keyring.generate_key(),
        "ZWS_ALERT_WEBHOOK_URL": slow_webhook[0],
        "ZWS_WORKER_CONCURRENCY": "1",
        "ZWS_STAGGER_MIN_SECONDS": "0",
        "ZWS_STAGGER_MAX_SECONDS": "0",
        "ZWS_LOG_FILE": "-",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    with build_runtime(load_settings()) as runtime:
        for tenant in TENANTS:
            credentials = sim_admin.credentials(tenant)
            runtime.customers.add(
                tenant,
                zuora_base_url=credentials.base_url,
                client_id=credentials.client_id,
                client_secret_encrypted=runtime.keyring.encrypt(
                    SecretStr(credentials.client_secret)
                ),
            )
            sim_admin.forbid(tenant)
    yield
    sim_admin.reset()


@pytest.mark.usefixtures("forbidden_customers")
def test_next_job_starts_without_waiting_for_the_webhook_when_it_is_slow(
    slow_webhook: tuple[str, list[str]],
) -> None:
    runner = CliRunner()
    dispatched = runner.invoke(sync_app, ["--force"])
    assert dispatched.exit_code == 0, dispatched.output

    worked = runner.invoke(app, ["worker", "--drain"])

    assert worked.exit_code == 0, worked.output
    with build_runtime(load_settings()) as runtime:
        runs = sorted(runtime.ledger.list_runs(), key=lambda run: run.id)
    assert [run.status for run in runs] == [RunStatus.FAILED, RunStatus.FAILED]
    first, second = sorted(runs, key=lambda run: run.started_at or run.dispatched_at)
    assert first.finished_at is not None and second.started_at is not None
    gap = (second.started_at - first.finished_at).total_seconds()
    assert gap < WEBHOOK_DELAY_SECONDS / 2, f"the second job waited {gap:.1f}s for the webhook"
    _, received = slow_webhook
    assert len(received) == 2 and all("Workflow View Access" in text for text in received)


def test_background_poster_returns_at_once_and_delivers_when_the_webhook_is_slow(
    slow_webhook: tuple[str, list[str]],
) -> None:
    url, received = slow_webhook
    poster = BackgroundPoster()
    started = time.monotonic()
    for number in range(3):
        poster(url, {"text": f"alert {number}"})
    assert time.monotonic() - started < 0.5
    poster.close(timeout_seconds=4 * WEBHOOK_DELAY_SECONDS)
    assert received == ["alert 0", "alert 1", "alert 2"]


def test_background_poster_drops_alerts_beyond_its_capacity_when_the_webhook_hangs() -> None:
    release = threading.Event()
    posted: list[str] = []

    def hanging(url: str, payload: dict[str, str]) -> None:
        release.wait(10)
        posted.append(payload["text"])

    poster = BackgroundPoster(hanging, capacity=2)
    started = time.monotonic()
    for number in range(6):
        poster("http://hook", {"text": str(number)})
    assert time.monotonic() - started < 0.5  # never blocks the caller
    release.set()
    poster.close(timeout_seconds=5)
    assert 2 <= len(posted) <= 3 and posted[0] == "0"


def test_background_poster_survives_a_failing_webhook_when_posting() -> None:
    posted: list[str] = []

    def failing_once(url: str, payload: dict[str, str]) -> None:
        if not posted:
            posted.append("failed")
            raise httpx.ConnectError("refused")
        posted.append(payload["text"])

    poster = BackgroundPoster(failing_once)
    poster("http://hook", {"text": "first"})
    poster("http://hook", {"text": "second"})
    poster.close(timeout_seconds=5)
    assert posted == ["failed", "second"]
