"""The long-wait check the scheduler runs with each repair pass: how long the oldest due run
has waited for a worker (the ledger says), and the alert once it waits too long."""

from __future__ import annotations

from datetime import datetime

from zuora_workflow_sync.monitoring.alerts import LongWaitAlerts
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store.fleet import FleetReader


def check_long_wait(runtime: Runtime, now: datetime) -> str | None:
    """ "raised" or "resolved" when the long-wait alert changed, else None (also when
    `ZWS_LONG_WAIT_SECONDS` is unset: then nothing is read)."""
    alerts = LongWaitAlerts.from_settings(runtime.settings, runtime.alerts)
    if alerts.threshold_seconds is None:
        return None
    backlog = FleetReader(runtime.engine).backlog(now)
    return alerts.check(backlog.oldest_wait_seconds(now), backlog.waiting, now)
