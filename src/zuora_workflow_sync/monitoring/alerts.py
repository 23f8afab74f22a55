"""Repeated-failure alerts: raised when a customer's circuit opens, resolved when it closes.

A circuit opens after `ZWS_CIRCUIT_FAILURE_THRESHOLD` consecutive failed runs (or at once for a
credentials or permission failure): that is the incident, alerted once; a failed probe that
reopens it is the same incident and alerts nothing. A successful run or an operator's reset
closes it and sends the resolved notice. Each is an ERROR/INFO log line and, when a webhook is
configured, a Slack-compatible `{"text": ...}` POST. A webhook that fails is logged and never
fails the sync; its URL (it embeds a token) is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from zuora_workflow_sync.domain.circuit import Circuit, CircuitChange, CircuitEvent, skip_reason
from zuora_workflow_sync.settings import Settings

logger = logging.getLogger(__name__)

Poster = Callable[[str, dict[str, str]], None]


def post_webhook(url: str, payload: dict[str, str]) -> None:
    """POST `payload` as JSON; raises httpx.HTTPError on failure."""
    response = httpx.post(url, json=payload, timeout=10.0, follow_redirects=False)
    response.raise_for_status()


@dataclass(frozen=True)
class FailureAlerts:
    """Decides when to alert and delivers the alert."""

    webhook_url: SecretStr | None = None
    poster: Poster = post_webhook

    @classmethod
    def from_settings(cls, settings: Settings) -> FailureAlerts:
        return cls(settings.alert_webhook_url)

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
        self._deliver(text)
        return True

    def _deliver(self, text: str) -> None:
        if self.webhook_url is None:
            return
        try:
            self.poster(self.webhook_url.get_secret_value(), {"text": text})
        except httpx.HTTPError as exc:
            logger.warning("alert webhook failed: %s", type(exc).__name__)
