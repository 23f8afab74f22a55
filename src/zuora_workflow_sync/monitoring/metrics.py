"""The process's Prometheus counters and histograms, named by Prometheus' conventions (`zws_`
prefix, base units, `_total` counters), incremented where each event happens by one call.

Labels are bounded: a run's outcome, a Zuora route template and an HTTP status. No customer
name or id is ever a label (a fleet of 100,000 customers would be 100,000 series per metric);
per-customer figures are on the dashboard, read from the ledger. The instruments live in the
process's own registry, built on first use, so importing this module imports nothing of
prometheus_client (the CLI's start-up stays fast) and each worker serves its own counters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds: a run of a small tenant takes under a second, a large one minutes.
_RUN_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_ID = re.compile(r"/\d+(?=/|$)")
_ROUTES = frozenset(
    {
        "/oauth/token",
        "/workflows",
        "/workflows/{id}",
        "/workflows/{id}/export",
        "/workflows/{id}/versions",
    }
)


@dataclass(frozen=True)
class Instruments:
    registry: CollectorRegistry
    runs: Counter
    run_duration: Histogram
    requests: Counter
    throttled: Counter
    pacing_waits: Histogram
    tokens: Counter
    jobs_in_progress: Gauge


@cache
def instruments() -> Instruments:
    """The process's instruments, in their own registry (built once, on first use)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()
    return Instruments(
        registry=registry,
        runs=Counter(
            "zws_runs", "Sync run attempts ended, by outcome.", ["outcome"], registry=registry
        ),
        run_duration=Histogram(
            "zws_run_duration_seconds",
            "Duration of sync run attempts, by outcome.",
            ["outcome"],
            buckets=_RUN_BUCKETS,
            registry=registry,
        ),
        requests=Counter(
            "zws_zuora_requests",
            "Requests sent to Zuora, by route and HTTP status.",
            ["route", "status"],
            registry=registry,
        ),
        throttled=Counter(
            "zws_zuora_throttled", "Zuora replies that were a 429.", registry=registry
        ),
        pacing_waits=Histogram(
            "zws_pacing_wait_seconds",
            "How long requests waited for a slot of their tenant's pacing (waits only).",
            buckets=_WAIT_BUCKETS,
            registry=registry,
        ),
        tokens=Counter("zws_tokens_issued", "OAuth tokens Zuora issued.", registry=registry),
        jobs_in_progress=Gauge(
            "zws_jobs_in_progress", "Jobs this worker is running now.", registry=registry
        ),
    )


def route_of(path: str) -> str:
    """A request path as its bounded route template (`/workflows/{id}/export`)."""
    template = _ID.sub("/{id}", path)
    return template if template in _ROUTES else "other"


def run_finished(outcome: str, seconds: float) -> None:
    """A run attempt ended: succeeded, retrying, failed, released, lease_lost, ..."""
    tools = instruments()
    tools.runs.labels(outcome).inc()
    tools.run_duration.labels(outcome).observe(seconds)


def zuora_replied(path: str, status: int) -> None:
    """Zuora answered a request to `path` with `status`."""
    tools = instruments()
    tools.requests.labels(route_of(path), str(status)).inc()
    if status == 429:
        tools.throttled.inc()


def pacing_waited(seconds: float) -> None:
    instruments().pacing_waits.observe(seconds)


def token_issued() -> None:
    instruments().tokens.inc()


@contextmanager
def job_in_progress() -> Iterator[None]:
    gauge = instruments().jobs_in_progress
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def serve(port: int, host: str) -> int:
    """Serve this process's metrics on `host:port` (0: any free port) in a daemon thread;
    the port it listens on."""
    from prometheus_client import start_http_server

    server, _ = start_http_server(port, addr=host, registry=instruments().registry)
    return int(server.server_port)
