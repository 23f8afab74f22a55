"""The order of a sync's exports: the next request takes its place before a body is parsed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.backends import Backend
from zuora_workflow_sync.pacing.gate import PacingGate
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.sync.job import execute_run
from zuora_workflow_sync.zuora.client import ReceivedExport

from .conftest import AddCustomer, make_settings, record_run


@pytest.fixture
def settings(tmp_path: Path, backend: Backend) -> Settings:
    return make_settings(tmp_path, export_concurrency=1, **backend.settings_fields)


def test_next_export_enters_the_gate_before_the_previous_body_is_parsed(
    runtime: Runtime, add_customer: AddCustomer, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[float, str]] = []
    admit, parse = PacingGate._admit, ReceivedExport.parse

    async def admitting(gate: PacingGate, request: Any) -> Any:
        events.append((time.perf_counter(), "admit"))
        return await admit(gate, request)

    def parsing(received: ReceivedExport) -> Any:
        events.append((time.perf_counter(), "parse"))
        return parse(received)

    monkeypatch.setattr(PacingGate, "_admit", admitting)
    monkeypatch.setattr(ReceivedExport, "parse", parsing)
    customer = add_customer("tenant-001")
    run = record_run(runtime, customer.id, full=True)

    outcome = execute_run(runtime, run.run_id, worker_id="w", requeue=lambda *_: None)

    assert outcome.status == "succeeded", outcome.error
    exported = outcome.counts.listed
    assert exported > 2
    kinds = [kind for _, kind in sorted(events)]
    # the listing's and its token's admissions, then one export at a time, each next one
    # admitted before the previous body is parsed
    assert kinds == ["admit"] * 3 + ["admit", "parse"] * (exported - 1) + ["parse"]
