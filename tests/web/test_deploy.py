"""deploy/: the Grafana dashboard is valid JSON that Grafana imports (panels with Prometheus
targets) and queries only metrics the product exposes; the Prometheus example scrapes both."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from zuora_workflow_sync.monitoring.fleet_metrics import dashboard_registry
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


def _exposed(tmp_path: Path) -> set[str]:
    with build_runtime(Settings(home=tmp_path)) as runtime:
        text = generate_latest(dashboard_registry(runtime.engine)).decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    return {name + suffix for name in names for suffix in _SUFFIXES}


def test_grafana_dashboard_queries_only_exposed_metrics_when_imported(tmp_path: Path) -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text(encoding="utf-8"))
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 30
    exposed = _exposed(tmp_path)
    used: set[str] = set()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in dashboard["panels"]:
        assert panel["type"] in ("stat", "timeseries") and panel["targets"]
        for target in panel["targets"]:
            used.update(re.findall(r"zws_[a-z_]+", target["expr"]))
    assert used <= exposed, used - exposed
    assert {"zws_runs_total", "zws_zuora_throttled_total", "zws_oldest_waiting_run_seconds"} <= used


def test_prometheus_example_scrapes_the_dashboard_and_the_workers() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"zws-dashboard", "zws-workers"}
    assert jobs["zws-dashboard"]["metrics_path"] == "/metrics"
    assert jobs["zws-dashboard"]["authorization"]["type"] == "Bearer"
