"""The dashboard's actions, each the CLI command's code path: Sync now (then a real worker runs
the run), Force sync, Reset circuit, Pause / Resume, Retry; over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.synced import Synced
from tests.web.conftest import TOKEN, csrf_of, log_in
from zuora_workflow_sync.domain.models import CustomerStatus, RunStatus
from zuora_workflow_sync.store.engine import writing
from zuora_workflow_sync.sync.job import circuit_policy


def _post(client: httpx.Client, path: str) -> httpx.Response:
    csrf = csrf_of(client.get("/customers").text)
    return client.post(path, data={"csrf": csrf}, follow_redirects=True)


def test_sync_now_leads_to_a_run_that_a_worker_runs(client: httpx.Client, synced: Synced) -> None:
    log_in(client, TOKEN)
    customer = synced.add_customer("tenant-003", "Initech")
    answer = _post(client, f"/customers/{customer.id}/sync")
    assert answer.status_code == 200 and "Sync job dispatched for customer: Initech" in answer.text
    (run,) = synced.runtime.ledger.list_runs(customer_id=customer.id)
    assert run.status is RunStatus.QUEUED and run.dispatched_by.startswith("dashboard:act:")
    drained = synced.worker("--drain")
    assert drained.returncode == 0, drained.stderr
    shown = client.get(f"/api/runs/{run.id}").json()
    assert shown["status"] == "succeeded" and shown["counts"]["listed"] > 0
    assert f'href="/runs/{run.id}"' in client.get(f"/runs?customer={customer.id}").text


def test_sync_now_says_synced_recently_unless_forced(client: httpx.Client, synced: Synced) -> None:
    log_in(client, TOKEN)
    customer = synced.customers[0]
    before = len(synced.runtime.ledger.list_runs(customer_id=customer.id))
    answer = _post(client, f"/customers/{customer.id}/sync")
    assert "was synced recently. Use --force to override." in answer.text
    assert len(synced.runtime.ledger.list_runs(customer_id=customer.id)) == before
    answer = _post(client, f"/customers/{customer.id}/force-sync")
    assert "Sync job dispatched" in answer.text
    assert synced.runtime.ledger.active_run_ids([customer.id])


def test_pause_and_resume_change_the_status(client: httpx.Client, synced: Synced) -> None:
    log_in(client, TOKEN)
    customer = synced.customers[1]
    assert "is now paused" in _post(client, f"/customers/{customer.id}/pause").text
    assert synced.runtime.customers.get(customer.id).sync_status is CustomerStatus.PAUSED  # type: ignore[union-attr]
    assert 'id="action-resume"' in client.get(f"/customers/{customer.id}").text
    assert "is now active" in _post(client, f"/customers/{customer.id}/resume").text
    assert synced.runtime.customers.get(customer.id).sync_status is CustomerStatus.ACTIVE  # type: ignore[union-attr]


def test_reset_closes_an_open_circuit(client: httpx.Client, synced: Synced) -> None:
    log_in(client, TOKEN)
    customer = synced.customers[0]
    with writing(synced.runtime.engine) as conn:
        synced.runtime.customers.record_failure(
            conn, customer.id, circuit_policy(synced.runtime.settings), datetime.now(UTC), hold=True
        )
    assert "held" in client.get(f"/customers/{customer.id}").text
    answer = _post(client, f"/customers/{customer.id}/reset")
    assert "reset (it was held)" in answer.text
    after = synced.runtime.customers.get(customer.id)
    assert after is not None and after.circuit.is_closed and after.consecutive_failures == 0


def test_retry_records_a_new_run_when_the_run_failed(client: httpx.Client, synced: Synced) -> None:
    log_in(client, TOKEN)
    customer = synced.customers[0]
    synced.admin.revoke("tenant-001")
    forced = _post(client, f"/customers/{customer.id}/force-sync")
    assert "Sync job dispatched" in forced.text
    assert synced.worker("--drain").returncode == 0
    failed = synced.runtime.ledger.list_runs(customer_id=customer.id, failed_only=True)[0]
    page = client.get(f"/runs/{failed.id}").text
    assert 'id="action-retry"' in page and "AuthenticationError" in page
    (alert,) = client.get("/api/overview").json()["alerts"]
    assert alert["kind"] == "circuit_open" and alert["customer_id"] == customer.id
    assert alert["resolved_at"] is None and "Zuora workflow sync is failing" in alert["message"]
    synced.admin.revoke("tenant-001", revoked=False)
    assert "reset (it was held)" in _post(client, f"/customers/{customer.id}/reset").text
    assert client.get("/api/overview").json()["alerts"][0]["resolved_at"] is not None
    answer = _post(client, f"/runs/{failed.id}/retry")
    newest = synced.runtime.ledger.list_runs(customer_id=customer.id, limit=1)[0]
    assert newest.id != failed.id and newest.trigger.value == "retry"
    assert str(answer.url).endswith(f"/runs/{newest.id}")
    assert f"Retried run {failed.id} as run {newest.id}" in answer.text
