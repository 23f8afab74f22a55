"""What one tenant may do: in-flight cap and request quotas, from its tenant type and settings.

Zuora's per-tenant API quotas by tenant type are those of zuora-api.md 5.1 (DEV-RL); this
product uses `Settings.pacing_quota_fraction` of them, so other clients of the tenant keep room.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from zuora_workflow_sync.domain.models import MAX_IN_FLIGHT_LIMIT, TenantType
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.zuora.environments import ALIASES

# Zuora's Default concurrency limit (zuora-api.md 5.2): workflow calls count against it.
ZUORA_CONCURRENCY_LIMIT = MAX_IN_FLIGHT_LIMIT
# Token requests of one machine in flight at once (each tenant's are single-flight already).
TOKEN_REQUESTS_IN_FLIGHT = 8


@dataclass(frozen=True, slots=True)
class ZuoraQuotas:
    """Zuora's API-class requests allowed per minute, hour and day for one tenant."""

    per_minute: int
    per_hour: int
    per_day: int


ZUORA_QUOTAS: dict[TenantType, ZuoraQuotas] = {
    TenantType.PRODUCTION: ZuoraQuotas(50_000, 2_250_000, 27_000_000),
    TenantType.DEVELOPER_SANDBOX: ZuoraQuotas(12_500, 25_000, 50_000),
    TenantType.API_SANDBOX: ZuoraQuotas(2_500, 5_000, 10_000),
}


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """The caps every worker applies to one tenant; `key` names its shared pacing state."""

    key: str
    max_in_flight: int
    per_minute: int
    per_hour: int
    per_day: int

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > 200:
            raise ConfigurationError("a pacing key must be 1 to 200 characters")
        if not 1 <= self.max_in_flight <= ZUORA_CONCURRENCY_LIMIT:
            raise ConfigurationError(
                f"max_in_flight must be between 1 and {ZUORA_CONCURRENCY_LIMIT}"
            )
        if min(self.per_minute, self.per_hour, self.per_day) < 1:
            raise ConfigurationError("pacing quotas must be at least 1")

    @property
    def quotas(self) -> tuple[int, int, int]:
        """Per minute, hour and day, in that order."""
        return (self.per_minute, self.per_hour, self.per_day)


def tenant_type_of(tenant_type: str | None, environment: str | None) -> TenantType:
    """The explicit type, else the one the environment name implies, else production."""
    if tenant_type is not None:
        try:
            return TenantType(tenant_type.strip().lower())
        except ValueError:
            known = ", ".join(t.value for t in TenantType)
            raise ConfigurationError(
                f"unknown tenant type {tenant_type!r}; known: {known}"
            ) from None
    if environment is None:
        return TenantType.PRODUCTION
    name = environment.strip().lower()
    name = ALIASES.get(name, name)
    if "developer-sandbox" in name:
        return TenantType.DEVELOPER_SANDBOX
    if "sandbox" in name:
        return TenantType.API_SANDBOX
    return TenantType.PRODUCTION


def tenant_key(base_url: str, client_id: str) -> str:
    """The pacing key of a tenant, as far as this product can tell: base URL and OAuth client.

    Zuora's limits are per tenant, so two customers registered with one tenant's credentials
    share its caps. Hashed: key names hold no client id in clear.
    """
    digest = hashlib.sha256(f"{base_url.rstrip('/').lower()}\n{client_id}".encode()).hexdigest()
    return f"tenant:{digest[:32]}"


def tenant_limits(
    key: str,
    *,
    environment: str | None,
    tenant_type: str | None,
    max_in_flight: int | None,
    settings: Settings,
) -> TenantLimits:
    """The limits of one customer's tenant: its override or the default cap, its type's quotas.

    ConfigurationError when the tenant type is unknown or the override is below 1; an override
    above Zuora's concurrency limit (40) is lowered to it.
    """
    if max_in_flight is not None and max_in_flight < 1:
        raise ConfigurationError("a customer's max_in_flight must be at least 1")
    cap = min(max_in_flight or settings.pacing_max_in_flight, ZUORA_CONCURRENCY_LIMIT)
    zuora = ZUORA_QUOTAS[tenant_type_of(tenant_type, environment)]
    fraction = settings.pacing_quota_fraction
    return TenantLimits(
        key=key,
        max_in_flight=cap,
        per_minute=max(1, math.floor(zuora.per_minute * fraction)),
        per_hour=max(1, math.floor(zuora.per_hour * fraction)),
        per_day=max(1, math.floor(zuora.per_day * fraction)),
    )


def token_limits(base_url: str, *, machine: str, settings: Settings) -> TenantLimits:
    """Pacing of `POST /oauth/token` from one machine to one Zuora host.

    Zuora allows 100 token requests per minute per IP address, whatever the tenant (zuora-api.md
    5.1); every worker on `machine` shares this budget, `pacing_token_requests_per_minute`.
    """
    host = urlsplit(base_url).netloc.lower() or base_url
    per_minute = settings.pacing_token_requests_per_minute
    return TenantLimits(
        key=f"oauth:{host}@{machine}"[:200],
        max_in_flight=TOKEN_REQUESTS_IN_FLIGHT,
        per_minute=per_minute,
        per_hour=per_minute * 60,
        per_day=per_minute * 60 * 24,
    )
