"""Building a ZuoraClient for one customer from the settings (one HTTP pool per sync)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import SecretStr

from zuora_workflow_sync.domain.models import Customer
from zuora_workflow_sync.domain.retry import RetryPolicy
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.zuora import (
    ClientSettings,
    TenantCredentials,
    TokenCache,
    TransportLimits,
    ZuoraClient,
    new_http_client,
)


def client_settings(settings: Settings) -> ClientSettings:
    """The client's limits and retry policy, from the ZWS_HTTP_* settings."""
    return ClientSettings(
        transport=TransportLimits(
            deadline_seconds=settings.http_deadline_seconds,
            read_timeout_seconds=min(60.0, settings.http_deadline_seconds),
            max_body_bytes=settings.http_max_body_bytes,
        ),
        retry=RetryPolicy(
            max_attempts=settings.http_max_attempts,
            base_seconds=settings.http_backoff_base_seconds,
            cap_seconds=settings.http_backoff_cap_seconds,
        ),
    )


@asynccontextmanager
async def tenant_client(
    settings: Settings, customer: Customer, secret: str, *, track_id: str
) -> AsyncIterator[ZuoraClient]:
    """A client for `customer`'s tenant with its own connection pool, closed on exit."""
    credentials = TenantCredentials(
        base_url=customer.zuora_base_url,
        client_id=customer.client_id,
        client_secret=SecretStr(secret),
        entity_id=customer.entity_id,
    )
    limits = client_settings(settings)
    async with new_http_client(
        limits.transport, max_connections=settings.export_concurrency + 2
    ) as http:
        yield ZuoraClient(
            credentials,
            http=http,
            token_cache=TokenCache(),
            settings=limits,
            track_id=track_id,
        )
