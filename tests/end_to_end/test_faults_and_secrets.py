"""Killed syncs leave nothing partial; secrets never reach output; a wrong key is a clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from sqlalchemy import func, select

from tests.polling import wait_for_run
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import WorkflowHistoryRow, WorkflowRow, WorkflowTaskRow
from zuora_workflow_sync.sync.job import execute_run

from .conftest import BIN, Installation


def _rows(install: Installation) -> tuple[int, int, int]:
    with install.runtime.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (WorkflowRow, WorkflowHistoryRow, WorkflowTaskRow)
        )


def _wait_for_status(install: Installation, run_id: int, status: RunStatus) -> None:
    wait_for_run(install.runtime.ledger, run_id, status, timeout=60)


def test_killed_sync_leaves_no_partial_rows_and_is_reclaimed_after_its_lease(
    install: Installation,
) -> None:
    customer = install.add_customer("tenant-001", "Acme Corporation")
    exports = install.admin.workflows("tenant-001")
    # The 6th export drips slowly, so the kill lands after five exports were fetched.
    install.admin.add_fault(
        "drip",
        tenant="tenant-001",
        route="export",
        workflow_id=exports[5]["id"],
        count=1,
        chunk_bytes=1,
        interval_ms=200,
    )
    install.env.update({"ZWS_EXPORT_CONCURRENCY": "1", "ZWS_LEASE_SECONDS": "5"})
    process = subprocess.Popen(
        [str(BIN / "sync-workflows"), str(customer.id), "--sync"],
        env=install.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_status(install, 1, RunStatus.RUNNING)
        time.sleep(1.0)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=10)

    assert _rows(install) == (0, 0, 0)
    run = install.runtime.ledger.get(1)
    assert run is not None and run.status is RunStatus.RUNNING and run.attempt == 1
    assert install.runtime.ledger.claim(1, "too-early", 5.0) is None  # the lease still holds

    time.sleep(5.5)
    outcome = execute_run(install.runtime, 1, worker_id="rescuer", requeue=lambda r, d: None)
    assert outcome.status == "succeeded", outcome.error
    run = install.runtime.ledger.get(1)
    assert run is not None and run.attempt == 2 and run.lease_owner == "rescuer"
    count = len(exports)
    assert _rows(install)[:2] == (count, count)


def test_wrong_encryption_key_fails_the_run_with_a_clear_reason(install: Installation) -> None:
    customer = install.add_customer("tenant-001", "Acme Corporation")
    install.env["ZWS_SECRET_KEYS"] = Keyring.generate_key()
    done = install.run("sync-workflows", str(customer.id), "--sync")
    assert done.returncode == 1
    assert "Sync failed: 1 of 1 runs failed" in done.stderr
    run = install.runtime.ledger.get(1)
    assert run is not None and run.status is RunStatus.FAILED
    assert run.error_message == (
        "encryption key problem, for the operator to fix (not counted against the customer): "
        "cannot decrypt a stored client secret: wrong or missing encryption key"
    )
    assert _rows(install) == (0, 0, 0)


def test_no_secret_reaches_any_output_when_syncing_with_debug_logs(install: Installation) -> None:
    customers = [install.add_customer(f"tenant-00{n}", f"Customer {n}") for n in (1, 2, 3)]
    install.admin.forbid("tenant-003")  # a failing customer logs its error too
    install.env["ZWS_LOG_LEVEL"] = "DEBUG"
    outputs = [
        install.run("sync-workflows", "--sync"),
        install.run("sync-workflows", "--dry-run"),
        install.run("sync-workflows", str(customers[0].id), "--force", "--sync", "--json"),
    ]
    captured = "".join(done.stdout + done.stderr for done in outputs)
    captured += (install.home / "zws.log").read_text(encoding="utf-8")
    assert "Sync summary" in captured and "Workflow View Access" in captured
    secrets = [install.admin.credentials(f"tenant-00{n}").client_secret for n in (1, 2, 3)]
    for secret in [*secrets, install.env["ZWS_SECRET_KEYS"]]:
        assert secret not in captured
    assert "Bearer " not in captured
