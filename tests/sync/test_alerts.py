"""Repeated-failure alerts: once per incident, when the circuit opens; a resolved notice when it
closes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.backends import Backend
from zuora_workflow_sync.domain.circuit import Circuit, CircuitChange, CircuitPolicy
from zuora_workflow_sync.monitoring.alerts import FailureAlerts
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.simulator import SimulatorAdmin

from .conftest import AddCustomer, make_settings, sync_now

NOW = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)


def test_alert_fires_once_when_circuit_opens_and_resolves_after_success(
    tmp_path: Path,
    sim_admin: SimulatorAdmin,
    webhook: tuple[str, list[str]],
    add_customer: AddCustomer,
    backend: Backend,
) -> None:
    url, received = webhook
    settings = make_settings(
        tmp_path,
        circuit_failure_threshold=3,
        alert_webhook_url=SecretStr(url),
        **backend.settings_fields,
    )
    with build_runtime(settings) as runtime:
        customer = add_customer("tenant-002")
        # A 404 is not retried, so each run fails at its first attempt.
        sim_admin.add_fault("status", tenant="tenant-002", route="list", status=404)
        outcomes = [sync_now(runtime, customer.id) for _ in range(5)]
        assert [o.status for o in outcomes] == ["failed"] * 5
        assert len(received) == 1
        assert "3 consecutive failed runs; circuit open until" in received[0]
        assert customer.name in received[0]
        sim_admin.clear_faults()
        assert sync_now(runtime, customer.id).status == "succeeded"
        assert len(received) == 2 and "recovered" in received[1]
        refreshed = runtime.customers.get(customer.id)
        assert refreshed is not None and refreshed.consecutive_failures == 0
        assert refreshed.circuit == Circuit()


def _opened(failures: int = 3) -> CircuitChange:
    return CircuitPolicy(failure_threshold=3).after_failure(Circuit(), failures, NOW)


def test_no_alert_or_notice_when_the_circuit_never_opened() -> None:
    sent: list[str] = []
    alerts = FailureAlerts(SecretStr("http://hook"), lambda url, body: sent.append(body["text"]))
    below = CircuitPolicy(failure_threshold=3).after_failure(Circuit(), 2, NOW)
    assert not alerts.after_failure(1, "Acme", 2, "boom", below)
    assert not alerts.after_success(1, "Acme", 2, below.circuit)
    opened = _opened()
    assert alerts.after_failure(1, "Acme", 3, "boom", opened)
    reopened = CircuitPolicy().after_failure(opened.circuit, 4, NOW)
    assert not alerts.after_failure(1, "Acme", 4, "boom", reopened)
    assert len(sent) == 1
    assert alerts.after_success(1, "Acme", 4, reopened.circuit)
    assert len(sent) == 2


def test_failing_webhook_never_fails_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    alerts = FailureAlerts(SecretStr("http://127.0.0.1:9/hook-with-token-XYZ"))
    assert alerts.after_failure(7, "Acme", 3, "boom", _opened())
    assert "alert webhook failed" in caplog.text
    assert "hook-with-token-XYZ" not in caplog.text
