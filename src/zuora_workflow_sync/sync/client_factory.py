"""Building a ZuoraClient for one customer from the settings.

Its tokens come from the coordination store shared by every worker (one token per customer per
token lifetime, fleet-wide), and its requests are paced there (the customer's in-flight cap,
quotas, pauses; the token endpoint's per-IP budget), all opened on the caller's event loop and
closed with the client; or, in a worker thread, on its `JobSession`'s loop, with the session's
HTTP pool and Redis client (or coordination file stores), which stay open for the thread's
next job.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from zuora_workflow_sync.coordination.connect import parse_coordination_url
from zuora_workflow_sync.coordination.tokens import shared_tokens
from zuora_workflow_sync.domain.models import Customer
from zuora_workflow_sync.domain.retry import RetryPolicy
from zuora_workflow_sync.pacing import (
    PacingGate,
    open_pacer,
    tenant_key,
    tenant_limits,
    token_limits,
)
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.sync.progress import JobProgress, TrackedGate
from zuora_workflow_sync.sync.session import JobSession
from zuora_workflow_sync.zuora import (
    ClientSettings,
    TenantCredentials,
    TokenCache,
    TransportLimits,
    ZuoraClient,
    new_http_client,
)

logger = logging.getLogger(__name__)


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
    settings: Settings,
    customer: Customer,
    secret: str,
    *,
    keyring: Keyring,
    track_id: str,
    session: JobSession | None = None,
    progress: JobProgress | None = None,
) -> AsyncIterator[ZuoraClient]:
    """A client for `customer`'s tenant: with its own connection pool, closed on exit, or with
    `session`'s (left open; run this on the session's loop).

    `keyring` seals the tokens shared through the coordination store; `progress`, if given,
    is told when the client's requests wait on pacing, go, and get replies.
    """
    credentials = TenantCredentials(
        base_url=customer.zuora_base_url,
        client_id=customer.client_id,
        client_secret=SecretStr(secret),
        entity_id=customer.entity_id,
    )
    limits = client_settings(settings)
    coordination = parse_coordination_url(settings.resolved_coordination_url)
    max_connections = settings.export_concurrency + 2
    redis = None if session is None else session.redis()
    kept = None if session is None else await session.file_stores()
    pacing_store, token_store = kept if kept is not None else (None, None)
    async with (
        open_pacer(settings, redis=redis, store=pacing_store) as pacer,
        shared_tokens(coordination, keyring, redis=redis, backend=token_store) as tokens,
        _http_pool(limits, max_connections, session) as http,
    ):
        gate = pacer.gate(
            tenant_limits(
                tenant_key(customer.zuora_base_url, customer.client_id),
                environment=customer.zuora_environment,
                tenant_type=customer.tenant_type.value if customer.tenant_type else None,
                max_in_flight=customer.max_in_flight,
                settings=settings,
            )
        )
        token_gate = pacer.gate(
            token_limits(customer.zuora_base_url, machine=socket.gethostname(), settings=settings)
        )
        tracked = (
            (gate, token_gate)
            if progress is None
            else (
                TrackedGate(gate, progress),
                TrackedGate(token_gate, progress),
            )
        )
        try:
            yield ZuoraClient(
                credentials,
                http=http,
                token_cache=TokenCache(shared=tokens),
                settings=limits,
                track_id=track_id,
                gate=tracked[0],
                token_gate=tracked[1],
            )
        finally:
            _log_pacing(customer, gate)


@asynccontextmanager
async def _http_pool(
    limits: ClientSettings, max_connections: int, session: JobSession | None
) -> AsyncIterator[httpx.AsyncClient]:
    if session is not None:
        yield session.http(limits.transport, max_connections)
        return
    async with new_http_client(limits.transport, max_connections=max_connections) as http:
        yield http


def _log_pacing(customer: Customer, gate: PacingGate) -> None:
    """How much the customer's pacing held its requests back during this sync."""
    counters = gate.counters.as_dict()
    logger.info(
        "pacing of customer %s: %s",
        customer.id,
        ", ".join(f"{name} {value:g}" for name, value in counters.items()),
        extra={"event": "pacing", "customer_id": customer.id, "pacing": counters},
    )
