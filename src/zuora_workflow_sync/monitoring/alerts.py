"""Repeated-failure alerts: once per incident, at the Nth consecutive failure, then resolved.

An incident opens when a customer's consecutive failures reach the threshold exactly (so it
fires once, not on every later failure) and closes at the next success. Each is an ERROR/INFO
log line and, when a webhook is configured, a Slack-compatible `{"text": ...}` POST. A webhook
that fails is logged and never fails the sync; its URL (it embeds a token) is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

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

    threshold: int
    webhook_url: SecretStr | None = None
    poster: Poster = post_webhook

    @classmethod
    def from_settings(cls, settings: Settings) -> FailureAlerts:
        return cls(settings.alert_after_failures, settings.alert_webhook_url)

    def after_failure(
        self, customer_id: int, name: str, consecutive_failures: int, reason: str
    ) -> bool:
        """Alert when this failure is the threshold-th in a row; True when it alerted."""
        if consecutive_failures != self.threshold:
            return False
        text = (
            f"Zuora workflow sync is failing for customer {name} (id {customer_id}): "
            f"{consecutive_failures} consecutive failed runs. Last error: {reason}"
        )
        logger.error(
            text,
            extra={"event": "sync_alert", "customer_id": customer_id, "alert": "raised"},
        )
        self._deliver(text)
        return True

    def after_success(self, customer_id: int, name: str, previous_failures: int) -> bool:
        """Send the resolved notice when a success ends an alerted incident."""
        if previous_failures < self.threshold:
            return False
        text = (
            f"Zuora workflow sync recovered for customer {name} (id {customer_id}) "
            f"after {previous_failures} consecutive failed runs."
        )
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
