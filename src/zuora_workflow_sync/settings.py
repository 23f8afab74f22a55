"""Configuration from `ZWS_*` environment variables, read once at the edge and passed in.

One machine needs no setting at all: data and queue live in SQLite files under `ZWS_HOME`
(default `./var`). Many machines set `ZWS_DATABASE_URL` (PostgreSQL) and `ZWS_QUEUE_URL` (Redis).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from cronsim import CronSim, CronSimError
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from zuora_workflow_sync.errors import ConfigurationError

_LEVEL = r"(?i)^(debug|info|warning|error)$"


class Settings(BaseSettings):
    """Every tunable of the product; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="ZWS_", extra="ignore", frozen=True)

    home: Path = Field(default=Path("var"), description="Folder of the default SQLite files.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL of the data.")
    queue_url: str | None = Field(default=None, description="sqlite:///PATH or redis://HOST/DB.")
    secret_keys: SecretStr | None = Field(
        default=None, description="Fernet keys, comma-separated, newest first."
    )
    key_file: Path | None = Field(default=None, description="Key file when no keys are set.")

    default_queue: str = Field(default="workflows", min_length=1, max_length=64)
    sync_window_seconds: float = Field(default=3600.0, ge=0, le=30 * 86400)
    stagger_min_seconds: float = Field(default=1.0, ge=0, le=86400)
    stagger_max_seconds: float = Field(default=60.0, ge=0, le=86400)
    dispatch_batch_size: int = Field(default=5000, ge=1, le=10_000)

    lease_seconds: float = Field(
        default=30.0, ge=5, le=3600, description="A run's lease, renewed by its worker."
    )
    heartbeat_seconds: float | None = Field(
        default=None,
        gt=0,
        le=1800,
        description="How often a worker renews its runs' leases (default: a third of the lease).",
    )
    job_idle_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="A sync with no Zuora reply for this long fails (pacing waits excluded).",
    )
    job_max_seconds: float = Field(
        default=900.0, gt=0, le=7 * 86400, description="A sync's cap before its workflows."
    )
    job_seconds_per_workflow: float = Field(
        default=1.0, ge=0, le=3600, description="Added to the cap per workflow listed."
    )
    max_attempts: int = Field(default=3, ge=1, le=20)
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    worker_grace_seconds: float = Field(default=30.0, ge=1, le=3600)
    export_concurrency: int = Field(default=4, ge=1, le=40)

    schedule_cron: str = Field(
        default="0 * * * *",
        min_length=1,
        max_length=200,
        description="Cron expression (5 fields, UTC) of the scheduler's dispatch.",
    )
    reaper_interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    reaper_batch_size: int = Field(default=500, ge=1, le=10_000)
    stale_queued_grace_seconds: float = Field(default=300.0, ge=1, le=7 * 86400)
    scheduler_lease_seconds: float = Field(default=30.0, ge=1, le=3600)

    http_deadline_seconds: float = Field(default=120.0, gt=0, le=600)
    http_max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    http_max_attempts: int = Field(default=5, ge=1, le=20)
    http_backoff_base_seconds: float = Field(default=1.0, ge=0, le=60)
    http_backoff_cap_seconds: float = Field(default=60.0, ge=0, le=3600)

    coordination_url: str | None = Field(
        default=None,
        description=(
            "redis://HOST/DB or sqlite:///PATH shared by every worker: per-tenant pacing and "
            "the token cache. Default: the queue's Redis, else $ZWS_HOME/coordination.sqlite3."
        ),
    )
    pacing_max_in_flight: int = Field(
        default=4, ge=1, le=40, description="Requests in flight per customer, all workers."
    )
    pacing_quota_fraction: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of Zuora's per-tenant API quotas (by tenant type) this product uses.",
    )
    pacing_token_requests_per_minute: int = Field(
        default=50,
        ge=1,
        le=100_000,
        description="Token requests per minute per Zuora host from one machine (Zuora: 100/IP).",
    )
    retry_base_seconds: float = Field(
        default=30.0, ge=0, le=3600, description="A failed run's first retry delay (jittered)."
    )
    retry_cap_seconds: float = Field(
        default=1800.0, ge=0, le=86400, description="Longest delay before a run is retried."
    )
    circuit_failure_threshold: int = Field(
        default=3, ge=1, le=1000, description="Consecutive failures that open a circuit."
    )
    circuit_cooldown_seconds: float = Field(
        default=600.0, ge=1, le=7 * 86400, description="First cool-down of an open circuit."
    )
    circuit_cooldown_max_seconds: float = Field(
        default=6 * 3600.0, ge=1, le=30 * 86400, description="Longest cool-down (it doubles)."
    )

    alert_webhook_url: SecretStr | None = Field(default=None, description="Slack-compatible URL.")
    long_wait_seconds: float | None = Field(
        default=None,
        gt=0,
        le=30 * 86400,
        description="Alert once when the oldest due run has waited longer (checked by the "
        "scheduler); unset: no long-wait alert.",
    )

    dashboard_token: SecretStr | None = Field(
        default=None,
        description="The dashboard's login token to view and act; required off loopback.",
    )
    dashboard_read_token: SecretStr | None = Field(
        default=None, description="A second login token that may only view the dashboard."
    )
    dashboard_session_key: SecretStr | None = Field(
        default=None,
        description="Signs the dashboard's session cookie; default: a new random key per start.",
    )
    dashboard_https: bool = Field(
        default=False, description="The dashboard is reached over https: Secure cookies."
    )
    dashboard_session_seconds: float = Field(
        default=8 * 3600.0, ge=60, le=30 * 86400, description="How long a dashboard login lasts."
    )
    graph_layout: str = Field(
        default="auto",
        pattern=r"^(auto|graphviz|grandalf)$",
        description="The task graph's layout: Graphviz's dot when installed (auto), or grandalf.",
    )
    log_level: str = Field(
        default="INFO",
        pattern=_LEVEL,
        description="Level of the log on stderr (ZWS_LOG_FILE=-), and of the file unless "
        "ZWS_LOG_FILE_LEVEL is set (the file never gets less than INFO from it).",
    )
    log_file_level: str | None = Field(
        default=None, pattern=_LEVEL, description="Level of the log file (default: see log_level)."
    )
    log_json: bool = True
    log_file: str | None = Field(
        default=None, description="JSON log file; '-' for stderr (e.g. under systemd)."
    )

    @field_validator("alert_webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never holds the URL: a Slack webhook URL embeds its token.
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("expected an http:// or https:// URL with a host")
        return value

    @field_validator("schedule_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        shown = repr(value[:80])
        if len(value.split()) != 5:
            raise ValueError(
                f"{shown}: expected 5 fields (minute hour day-of-month month day-of-week)"
            )
        try:
            CronSim(value, datetime(2000, 1, 1, tzinfo=UTC))
        except CronSimError as exc:
            raise ValueError(f"{shown}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _check_ranges(self) -> Self:
        if self.stagger_min_seconds > self.stagger_max_seconds:
            raise ValueError("stagger_min_seconds must not exceed stagger_max_seconds")
        if self.resolved_heartbeat_seconds > self.lease_seconds / 2:
            raise ValueError(
                "heartbeat_seconds must be at most half of lease_seconds, or one late renewal "
                "loses the lease and a second worker runs the job"
            )
        if self.job_idle_timeout_seconds <= self.http_deadline_seconds:
            raise ValueError(
                "job_idle_timeout_seconds must be longer than http_deadline_seconds, or a slow "
                "but valid Zuora reply fails the sync"
            )
        return self

    @property
    def resolved_heartbeat_seconds(self) -> float:
        """How often a worker renews the leases of its runs."""
        return self.heartbeat_seconds or self.lease_seconds / 3

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'zws.sqlite3'}"

    @property
    def resolved_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{self.home / 'queue.sqlite3'}"

    @property
    def resolved_coordination_url(self) -> str:
        """Where workers share pacing and tokens: explicit, else the queue's Redis, else SQLite."""
        if self.coordination_url:
            return self.coordination_url
        if self.resolved_queue_url.startswith(("redis://", "rediss://")):
            return self.resolved_queue_url
        return f"sqlite:///{self.home / 'coordination.sqlite3'}"

    @property
    def resolved_log_file(self) -> Path | None:
        """Where logs go: None means stderr."""
        if self.log_file == "-":
            return None
        return Path(self.log_file) if self.log_file else self.home / "zws.log"

    @property
    def resolved_log_file_level(self) -> str:
        """The log file's level: ZWS_LOG_FILE_LEVEL, else ZWS_LOG_LEVEL but never above INFO,
        so a quiet console (the demo's WARNING) still leaves one line per sync attempt."""
        if self.log_file_level is not None:
            return self.log_file_level.upper()
        level = logging.getLevelName(self.log_level.upper())
        return str(logging.getLevelName(min(level, logging.INFO)))

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or self.home / "secret.key"


# Settings that were replaced: naming one is refused, so an operator learns what took its place.
RETIRED = {
    "ZWS_JOB_TIMEOUT_SECONDS": (
        "replaced by ZWS_JOB_IDLE_TIMEOUT_SECONDS (no Zuora reply for that long) and "
        "ZWS_JOB_MAX_SECONDS + ZWS_JOB_SECONDS_PER_WORKFLOW (the cap of one sync)"
    ),
}


def load_settings() -> Settings:
    """Read the environment once; a bad value is a ConfigurationError naming the variable."""
    for name, instead in RETIRED.items():
        if name in os.environ:
            raise ConfigurationError(f"{name} is no longer read: {instead}")
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        name = "ZWS_" + "_".join(str(part) for part in first["loc"]).upper() if first["loc"] else ""
        raise ConfigurationError(
            f"invalid setting {name}: {first['msg'].removeprefix('Value error, ')}".replace(
                " :", ":"
            )
        ) from None
