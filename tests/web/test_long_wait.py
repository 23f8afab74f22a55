"""The long-wait alert: one webhook alert per incident however often it is checked, resolved
when the wait is over, recorded in the journal the overview and `/metrics` show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from tests.synced import Synced
from zuora_workflow_sync.domain.models import RunRequest, RunTrigger
from zuora_workflow_sync.monitoring.alerts import LONG_WAIT, LongWaitAlerts
from zuora_workflow_sync.store.fleet import FleetReader
from zuora_workflow_sync.sync.long_wait import check_long_wait


def _alerts(synced: Synced, sent: list[str]) -> LongWaitAlerts:
    return LongWaitAlerts(
        60.0,
        synced.runtime.alerts,
        SecretStr("http://hook"),
        lambda url, body: sent.append(body["text"]),
    )


def test_one_alert_per_incident_when_a_run_waits_too_long(synced: Synced) -> None:
    now = datetime.now(UTC)
    recorded = synced.runtime.ledger.record_batch(
        [RunRequest(synced.customers[0].id, now - timedelta(minutes=5))],
        queue="workflows",
        trigger=RunTrigger.COMMAND,
        dispatched_by="test",
        max_attempts=3,
    ).recorded
    sent: list[str] = []
    alerts = _alerts(synced, sent)
    backlog = FleetReader(synced.runtime.engine).backlog(now)
    assert backlog.waiting == 1 and 290 < backlog.oldest_wait_seconds(now) < 310
    results = [
        alerts.check(backlog.oldest_wait_seconds(now), backlog.waiting, now) for _ in range(3)
    ]
    assert results == ["raised", None, None] and len(sent) == 1
    assert "1 due runs are waiting" in sent[0] and "oldest has waited 300s" in sent[0]
    assert synced.runtime.alerts.is_open(LONG_WAIT)
    synced.runtime.ledger.abandon_undispatched([recorded[0].run_id], "test")
    backlog = FleetReader(synced.runtime.engine).backlog(now)
    assert alerts.check(backlog.oldest_wait_seconds(now), backlog.waiting, now) == "resolved"
    assert alerts.check(0.0, 0, now) is None and len(sent) == 2
    (alert,) = synced.runtime.alerts.recent(10)
    assert alert.kind == LONG_WAIT and alert.resolved_at is not None


def test_no_alert_when_the_threshold_is_unset(synced: Synced) -> None:
    assert synced.runtime.settings.long_wait_seconds is None
    assert check_long_wait(synced.runtime, datetime.now(UTC)) is None
    assert synced.runtime.alerts.recent(10) == []
