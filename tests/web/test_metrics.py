"""Metrics in Prometheus' text format, parsed by `prometheus_client.parser`: the counters move by
exactly what a known sync did (as its ledger rows say), the dashboard's fleet gauges equal the
database, and a worker serves its own on `--metrics-port`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.synced import TENANTS, Synced
from tests.web.conftest import TOKEN
from zuora_workflow_sync.catalog.fleet import list_runs
from zuora_workflow_sync.domain.fleet import RunFilter
from zuora_workflow_sync.monitoring.metrics import instruments, route_of

Samples = dict[str, float]


def _samples(text: str) -> Samples:
    """Every sample as `name{label="value",...}` -> value."""
    found: Samples = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}"] += sample.value
    return found


def _process_samples() -> Samples:
    from prometheus_client import generate_latest

    return _samples(generate_latest(instruments().registry).decode())


def _total(samples: Samples, prefix: str) -> float:
    return sum(value for key, value in samples.items() if key.startswith(prefix + "{"))


def _delta(after: Samples, before: Samples, key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_counters_move_by_what_the_sync_did_when_a_429_came_once(synced: Synced) -> None:
    synced.admin.add_fault(
        "too_many_requests", tenant=TENANTS[0], route="list", count=1, retry_after=1
    )
    # One request in flight for the first customer: its concurrent exports wait for the slot.
    synced.runtime.customers.set_pacing(synced.customers[0].id, max_in_flight=1, tenant_type=None)
    before = _process_samples()
    synced.sync("--full")
    after = _process_samples()
    runs = list_runs(synced.runtime.engine, RunFilter(), limit=2).items
    counts = [item.run.counts for item in runs]
    assert [item.run.status.value for item in runs] == ["succeeded", "succeeded"]
    assert _delta(after, before, 'zws_runs_total{outcome="succeeded"}') == 2
    assert _delta(after, before, 'zws_run_duration_seconds_count{outcome="succeeded"}') == 2
    requests = _total(after, "zws_zuora_requests_total") - _total(
        before, "zws_zuora_requests_total"
    )
    assert requests == sum(c.api_requests for c in counts) > 0
    assert _delta(after, before, 'zws_zuora_requests_total{route="/workflows",status="429"}') == 1
    assert (
        _delta(after, before, "zws_zuora_throttled_total{}")
        == 1
        == sum(c.throttled for c in counts)
    )
    tokens = _delta(after, before, "zws_tokens_issued_total{}")
    assert tokens == sum(c.token_requests for c in counts)
    assert _delta(after, before, "zws_pacing_wait_seconds_count{}") >= 1


def test_routes_are_bounded_templates_when_paths_carry_ids() -> None:
    assert route_of("/workflows/12345/export") == "/workflows/{id}/export"
    assert route_of("/workflows/7") == "/workflows/{id}"
    assert route_of("/workflows") == "/workflows"
    assert route_of("/v1/anything/else") == "other"


def test_dashboard_metrics_equal_the_database_when_scraped(
    client: httpx.Client, synced: Synced
) -> None:
    answer = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.headers["content-type"].startswith("text/plain")
    samples = _samples(answer.text)
    assert samples['zws_customers{circuit="closed",status="active"}'] == 2
    assert samples['zws_ledger_runs{status="succeeded"}'] == 2
    assert samples['zws_ledger_runs{status="failed"}'] == 0
    live = sum(len(synced.admin.workflows(tenant)) for tenant in TENANTS)
    assert samples["zws_workflows_stored{}"] == live
    listed = synced.json("workflows", "list", "--limit", "1000")["items"]
    assert samples["zws_tasks_stored{}"] == sum(w["task_count"] for w in listed) > 0
    assert (
        samples["zws_queue_waiting_runs{}"] == 0
        and samples["zws_oldest_waiting_run_seconds{}"] == 0
    )
    assert samples["zws_circuits_open{}"] == 0 and samples["zws_long_wait_alert_open{}"] == 0
    waiting = synced.add_customer(TENANTS[1], "Waiting Inc")
    assert "Sync job dispatched" in synced.sync_one(waiting.id)
    time.sleep(0.05)
    again = _samples(client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"}).text)
    assert again["zws_queue_waiting_runs{}"] == 1 and again["zws_oldest_waiting_run_seconds{}"] > 0
    assert again['zws_ledger_runs{status="queued"}'] == 1


def test_worker_serves_its_counters_on_its_metrics_port(synced: Synced, tmp_path: Path) -> None:
    customer = synced.add_customer(TENANTS[1], "Scraped Ltd")
    environment = {**synced.worker_environment(), "ZWS_LOG_FILE": str(tmp_path / "worker.log")}
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "workflow-sync"), "worker", "--metrics-port", "0"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.startswith("Metrics on http://127.0.0.1:"), line
        url = line.split()[-1]
        assert _samples(httpx.get(url).text)["zws_jobs_in_progress{}"] == 0
        assert "Sync job dispatched" in synced.sync_one(customer.id)
        deadline = time.monotonic() + 60
        while _samples(httpx.get(url).text).get('zws_runs_total{outcome="succeeded"}', 0) < 1:
            assert time.monotonic() < deadline, "the worker did not run the job"
            time.sleep(0.2)
        samples = _samples(httpx.get(url).text)
        (run,) = synced.runtime.ledger.list_runs(customer_id=customer.id)
        assert samples['zws_runs_total{outcome="succeeded"}'] == 1
        assert _total(samples, "zws_zuora_requests_total") == run.counts.api_requests
    finally:
        worker.terminate()
        worker.communicate(timeout=30)
