"""The fleet's gauges, read from the database at scrape time by a custom collector (nothing is
cached between scrapes): customers by status and circuit, runs by status, the queue's backlog
and its oldest waiting run, open circuits, workflows and tasks stored, the long-wait alert.

Served by the dashboard's `/metrics`; labels are statuses only (bounded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Engine

from zuora_workflow_sync.domain.circuit import CircuitStatus
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.monitoring.alerts import LONG_WAIT
from zuora_workflow_sync.monitoring.metrics import instruments
from zuora_workflow_sync.store.alerts import AlertJournal
from zuora_workflow_sync.store.fleet import FleetReader

Clock = Callable[[], datetime]
_BLOCKING = (CircuitStatus.OPEN.value, CircuitStatus.HELD.value)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FleetCollector(Collector):
    """Collects the fleet gauges from `engine` on every scrape."""

    def __init__(self, engine: Engine, clock: Clock = _utc_now) -> None:
        self._fleet = FleetReader(engine)
        self._alerts = AlertJournal(engine)
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        yield from self._customers(now)
        yield self._runs()
        yield from self._backlog(now)
        stored = self._fleet.stored_counts()
        yield GaugeMetricFamily("zws_workflows_stored", "Live workflows stored.", stored.workflows)
        yield GaugeMetricFamily(
            "zws_tasks_stored", "Tasks of the live workflows stored.", stored.tasks
        )
        yield GaugeMetricFamily(
            "zws_long_wait_alert_open",
            "1 while the long-wait alert is open (ZWS_LONG_WAIT_SECONDS), else 0.",
            1.0 if self._alerts.is_open(LONG_WAIT) else 0.0,
        )

    def _customers(self, now: datetime) -> Iterator[Metric]:
        counts = self._fleet.customer_counts(now)
        family = GaugeMetricFamily(
            "zws_customers", "Customers by status and circuit status.", labels=["status", "circuit"]
        )
        for count in counts:
            family.add_metric([count.status, count.circuit], count.count)
        yield family
        blocked = sum(count.count for count in counts if count.circuit in _BLOCKING)
        yield GaugeMetricFamily(
            "zws_circuits_open", "Customers whose circuit is open or held.", blocked
        )

    def _runs(self) -> Metric:
        counts = self._fleet.run_counts()
        family = GaugeMetricFamily(
            "zws_ledger_runs", "Runs in the ledger by status.", labels=["status"]
        )
        for status in RunStatus:
            family.add_metric([status.value], counts.get(status.value, 0))
        return family

    def _backlog(self, now: datetime) -> Iterator[Metric]:
        backlog = self._fleet.backlog(now)
        yield GaugeMetricFamily(
            "zws_queue_waiting_runs",
            "Queued runs that are due (waiting for a worker).",
            backlog.waiting,
        )
        yield GaugeMetricFamily(
            "zws_queue_scheduled_runs", "Queued runs not due yet (staggered).", backlog.scheduled
        )
        yield GaugeMetricFamily(
            "zws_oldest_waiting_run_seconds",
            "How long the oldest due queued run has waited (0: none waits).",
            backlog.oldest_wait_seconds(now),
        )


class _ProcessMetrics(Collector):
    """This process's counters (`monitoring.metrics`), served beside the fleet gauges."""

    def collect(self) -> Iterator[Metric]:
        yield from instruments().registry.collect()


def dashboard_registry(engine: Engine, clock: Clock = _utc_now) -> CollectorRegistry:
    """What the dashboard's `/metrics` serves: the fleet gauges and the process's counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(engine, clock))
    registry.register(_ProcessMetrics())
    return registry
