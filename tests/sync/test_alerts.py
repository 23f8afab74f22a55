"""Repeated-failure alerts: once per incident at the threshold, a resolved notice after."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.backends import Backend
from zuora_workflow_sync.monitoring.alerts import FailureAlerts
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.simulator import SimulatorAdmin

from .conftest import AddCustomer, make_settings, sync_now


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_alert_fires_once_at_threshold_and_resolves_after_success(
    tmp_path: Path,
    sim_admin: SimulatorAdmin,
    webhook: tuple[str, list[dict[str, Any]]],
    add_customer: AddCustomer,
    backend: Backend,
) -> None:
    url, received = webhook
    settings = make_settings(
        tmp_path,
        alert_after_failures=3,
        alert_webhook_url=SecretStr(url),
        **backend.settings_fields,
    )
    with build_runtime(settings) as runtime:
        customer = add_customer("tenant-002")
        sim_admin.add_fault("status", tenant="tenant-002", route="list", status=500)
        outcomes = [sync_now(runtime, customer.id) for _ in range(5)]
        assert [o.status for o in outcomes] == ["failed"] * 5
        assert len(received) == 1
        assert "3 consecutive failed runs" in received[0]["text"]
        assert customer.name in received[0]["text"]
        sim_admin.clear_faults()
        assert sync_now(runtime, customer.id).status == "succeeded"
        assert len(received) == 2 and "recovered" in received[1]["text"]
        refreshed = runtime.customers.get(customer.id)
        assert refreshed is not None and refreshed.consecutive_failures == 0


def test_no_resolved_notice_when_failures_stayed_below_threshold() -> None:
    sent: list[str] = []
    alerts = FailureAlerts(3, SecretStr("http://hook"), lambda url, body: sent.append(body["text"]))
    assert not alerts.after_failure(1, "Acme", 2, "boom")
    assert not alerts.after_success(1, "Acme", 2)
    assert alerts.after_failure(1, "Acme", 3, "boom")
    assert not alerts.after_failure(1, "Acme", 4, "boom")
    assert len(sent) == 1


def test_failing_webhook_never_fails_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    alerts = FailureAlerts(1, SecretStr("http://127.0.0.1:9/hook-with-token-XYZ"))
    assert alerts.after_failure(7, "Acme", 1, "boom")
    assert "alert webhook failed" in caplog.text
    assert "hook-with-token-XYZ" not in caplog.text
