"""SIGTERM to a worker: a job finishes within the grace period or gives its lease back (F3)."""

from __future__ import annotations

import signal
import subprocess
import time

from sqlalchemy import func, select

from tests.polling import wait_for_run
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.store.tables import WorkflowRow

from .conftest import BIN, Installation


def _start_worker(install: Installation) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "workflow-sync"), "worker", "--concurrency", "1"],
        env=install.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(install: Installation, run_id: int, status: RunStatus, seconds: float) -> None:
    wait_for_run(install.runtime.ledger, run_id, status, timeout=seconds)


def _stored(install: Installation) -> int:
    with install.runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(WorkflowRow)).scalar_one())


def test_sigterm_gives_the_lease_back_when_the_job_outlives_the_grace(
    install: Installation,
) -> None:
    customer = install.add_customer("tenant-001", "Acme Corporation")
    install.admin.add_fault(
        "drip", tenant="tenant-001", route="export", chunk_bytes=1, interval_ms=500
    )
    install.env.update({"ZWS_WORKER_GRACE_SECONDS": "2", "ZWS_EXPORT_CONCURRENCY": "1"})
    assert install.run("sync-workflows", str(customer.id)).returncode == 0
    worker = _start_worker(install)
    try:
        _wait_for(install, 1, RunStatus.RUNNING, 60)
        time.sleep(0.5)
        stopped_at = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, err
    assert time.monotonic() - stopped_at < 6.0
    assert out.splitlines()[-1] == "Worker stopped"
    run = install.runtime.ledger.get(1)
    assert run is not None and run.status is RunStatus.QUEUED
    assert run.attempt == 1 and run.lease_owner is None
    assert _stored(install) == 0

    install.admin.clear_faults()
    drained = install.run("workflow-sync", "worker", "--drain", timeout=60)
    assert drained.returncode == 0, drained.stderr
    run = install.runtime.ledger.get(1)
    assert run is not None and run.status is RunStatus.SUCCEEDED and run.attempt == 2
    assert _stored(install) == len(install.admin.workflows("tenant-001"))


def test_sigterm_lets_a_short_job_finish_when_it_fits_the_grace(install: Installation) -> None:
    customer = install.add_customer("tenant-001", "Acme Corporation")
    install.admin.update_settings(latency_ms=150)
    install.env.update({"ZWS_WORKER_GRACE_SECONDS": "20", "ZWS_EXPORT_CONCURRENCY": "1"})
    assert install.run("sync-workflows", str(customer.id)).returncode == 0
    worker = _start_worker(install)
    try:
        _wait_for(install, 1, RunStatus.RUNNING, 60)
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, err
    run = install.runtime.ledger.get(1)
    assert run is not None and run.status is RunStatus.SUCCEEDED and run.attempt == 1
