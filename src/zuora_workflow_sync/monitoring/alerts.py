"""Repeated-failure alerts: raised when a customer's circuit opens, resolved when it closes.

A circuit opens after `ZWS_CIRCUIT_FAILURE_THRESHOLD` consecutive failed runs (or at once for a
credentials or permission failure): that is the incident, alerted once; a failed probe that
reopens it is the same incident and alerts nothing. A successful run or an operator's reset
closes it and sends the resolved notice. Each is an ERROR/INFO log line and, when a webhook is
configured, a Slack-compatible `{"text": ...}` POST. A webhook that fails is logged and never
fails the sync; its URL (it embeds a token) is never logged. A worker posts through a
`BackgroundPoster`, so its jobs never wait on the webhook. Every alert is also written to the
alert journal (`store.alerts`), which the dashboard shows.

Long waits (like Laravel Horizon's): when the oldest due run has waited longer than
`ZWS_LONG_WAIT_SECONDS`, one alert for the incident (the journal's open row makes it one across
schedulers and checks), resolved once nothing waits that long.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx
from pydantic import SecretStr

from zuora_workflow_sync.domain.circuit import Circuit, CircuitChange, CircuitEvent, skip_reason
from zuora_workflow_sync.settings import Settings

logger = logging.getLogger(__name__)

Poster = Callable[[str, dict[str, str]], None]
LONG_WAIT = "long_wait"


class Journal(Protocol):
    """Where alerts are recorded (`store.alerts.AlertJournal`)."""

    def raise_once(
        self, kind: str, incident: str, message: str, now: datetime, customer_id: int | None = None
    ) -> bool: ...

    def resolve(self, incident: str, now: datetime) -> bool: ...


def circuit_incident(customer_id: int) -> str:
    return f"circuit:{customer_id}"


def post_webhook(url: str, payload: dict[str, str]) -> None:
    """POST `payload` as JSON; raises httpx.HTTPError on failure."""
    response = httpx.post(url, json=payload, timeout=10.0, follow_redirects=False)
    response.raise_for_status()


class BackgroundPoster:
    """A `Poster` that returns at once: one background thread posts, from a bounded queue.

    A worker's job thread must not wait on a slow webhook (up to its 10 s timeout per alert):
    the job ends, and the alert follows. When the queue is full the alert is dropped with a
    warning (it is in the journal already). `close` delivers what is queued, within a bound.
    """

    def __init__(self, poster: Poster = post_webhook, *, capacity: int = 100) -> None:
        self._poster = poster
        self._capacity = capacity
        self._queue: queue.Queue[tuple[str, dict[str, str]] | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._run, name="zws-alerts", daemon=True)
        self._thread.start()

    def __call__(self, url: str, payload: dict[str, str]) -> None:
        try:
            self._queue.put_nowait((url, payload))
        except queue.Full:
            logger.warning(
                "alert webhook: %d alerts already waiting, this one is dropped (the alert "
                "journal has it)",
                self._capacity,
            )

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._poster(*item)
            except httpx.HTTPError as exc:
                logger.warning("alert webhook failed: %s", type(exc).__name__)
            except Exception:  # the sender must outlive any one alert
                logger.exception("alert webhook failed")

    def close(self, timeout_seconds: float = 15.0) -> None:
        """Post what is queued (waiting at most `timeout_seconds`), then stop the thread."""
        deadline = time.monotonic() + timeout_seconds
        try:
            self._queue.put(None, timeout=timeout_seconds)
        except queue.Full:
            return
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            logger.warning("alert webhook: alerts still unsent at shutdown were dropped")


@dataclass(frozen=True)
class FailureAlerts:
    """Decides when to alert and delivers the alert."""

    webhook_url: SecretStr | None = None
    poster: Poster = post_webhook
    journal: Journal | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, journal: Journal | None = None, poster: Poster = post_webhook
    ) -> FailureAlerts:
        return cls(settings.alert_webhook_url, poster=poster, journal=journal)

    def after_failure(
        self, customer_id: int, name: str, failures: int, reason: str, change: CircuitChange
    ) -> bool:
        """Alert when this failed run opened the customer's circuit; True when it alerted."""
        if change.event is not CircuitEvent.OPENED:
            return False
        text = (
            f"Zuora workflow sync is failing for customer {name} (id {customer_id}): "
            f"{failures} consecutive failed runs; "
            f"{skip_reason(change.circuit, customer_id)}. Last error: {reason}"
        )
        logger.error(
            text,
            extra={"event": "sync_alert", "customer_id": customer_id, "alert": "raised"},
        )
        if self.journal is not None:
            incident, now = circuit_incident(customer_id), datetime.now(UTC)
            self.journal.raise_once("circuit_open", incident, text, now, customer_id)
        self._deliver(text)
        return True

    def after_success(
        self, customer_id: int, name: str, previous_failures: int, previous: Circuit
    ) -> bool:
        """Send the resolved notice when a successful run closed an open circuit."""
        if previous.is_closed:
            return False
        return self._resolved(
            customer_id,
            f"Zuora workflow sync recovered for customer {name} (id {customer_id}) "
            f"after {previous_failures} consecutive failed runs; its circuit is closed.",
        )

    def after_reset(self, customer_id: int, name: str, previous: Circuit) -> bool:
        """Send the resolved notice when an operator's reset closed an open circuit."""
        if previous.is_closed:
            return False
        return self._resolved(
            customer_id,
            f"The circuit of customer {name} (id {customer_id}) was reset by an operator; "
            "its syncs are dispatched again.",
        )

    def _resolved(self, customer_id: int, text: str) -> bool:
        logger.info(
            text,
            extra={"event": "sync_alert", "customer_id": customer_id, "alert": "resolved"},
        )
        if self.journal is not None:
            self.journal.resolve(circuit_incident(customer_id), datetime.now(UTC))
        self._deliver(text)
        return True

    def _deliver(self, text: str) -> None:
        deliver(self.webhook_url, self.poster, text)


def deliver(webhook_url: SecretStr | None, poster: Poster, text: str) -> None:
    """POST `text` to the webhook, if one is configured; a failure is logged, never raised."""
    if webhook_url is None:
        return
    try:
        poster(webhook_url.get_secret_value(), {"text": text})
    except httpx.HTTPError as exc:
        logger.warning("alert webhook failed: %s", type(exc).__name__)


@dataclass(frozen=True)
class LongWaitAlerts:
    """Raises the long-wait alert once per incident and resolves it when the wait is over."""

    threshold_seconds: float | None
    journal: Journal
    webhook_url: SecretStr | None = None
    poster: Poster = post_webhook

    @classmethod
    def from_settings(cls, settings: Settings, journal: Journal) -> LongWaitAlerts:
        return cls(settings.long_wait_seconds, journal, settings.alert_webhook_url)

    def check(self, oldest_wait_seconds: float, waiting: int, now: datetime) -> str | None:
        """Given the oldest due run's wait: "raised", "resolved" or None (nothing changed)."""
        if self.threshold_seconds is None:
            return None
        if oldest_wait_seconds > self.threshold_seconds:
            text = (
                f"Zuora workflow sync: {waiting} due runs are waiting for a worker; the oldest "
                f"has waited {oldest_wait_seconds:.0f}s (ZWS_LONG_WAIT_SECONDS is "
                f"{self.threshold_seconds:g}s). Are the workers running?"
            )
            if not self.journal.raise_once(LONG_WAIT, LONG_WAIT, text, now):
                return None
            logger.error(text, extra={"event": "sync_alert", "alert": "raised", "kind": LONG_WAIT})
            deliver(self.webhook_url, self.poster, text)
            return "raised"
        if not self.journal.resolve(LONG_WAIT, now):
            return None
        text = "Zuora workflow sync: no due run waits longer than ZWS_LONG_WAIT_SECONDS any more."
        logger.info(text, extra={"event": "sync_alert", "alert": "resolved", "kind": LONG_WAIT})
        deliver(self.webhook_url, self.poster, text)
        return "resolved"
