"""The simulator's live state: tenants, their runtime switches and limits, tokens, faults, stats.

Owned by the server's event loop; only handlers running on that loop touch it.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from zuora_workflow_sync.simulator.clock import Clock, SimClock
from zuora_workflow_sync.simulator.config import Settings, SimulatorConfig
from zuora_workflow_sync.simulator.faults import FaultPlan
from zuora_workflow_sync.simulator.generation import generate_universe
from zuora_workflow_sync.simulator.limits import (
    DEFAULT_QUOTAS,
    ConcurrencyGate,
    Quotas,
    RateWindows,
    TokenIpLimiter,
)
from zuora_workflow_sync.simulator.stats import Stats
from zuora_workflow_sync.simulator.tenants import Tenant, Universe, universe_from_dict
from zuora_workflow_sync.simulator.views import RenderCache

UniverseFactory = Callable[[], Universe]
_TOKEN_SWEEP_SIZE = 50_000


@dataclass
class Grant:
    """An access token: whose it is and when it expires on the simulated monotonic clock."""

    tenant: str
    expires_at: float


class TenantRuntime:
    """A tenant's switches and limit counters; not part of the tenants file."""

    def __init__(self, tenant: Tenant, concurrency_limit: int) -> None:
        self.forbidden = False
        self.revoked = False
        self.quota_override: Quotas | None = None
        self.concurrency_override: int | None = None
        self.windows = RateWindows(DEFAULT_QUOTAS[tenant.tenant_type])
        self.gate = ConcurrencyGate(concurrency_limit)

    def set_quotas(self, quotas: Quotas | None, tenant: Tenant) -> None:
        self.quota_override = quotas
        self.windows = RateWindows(quotas or DEFAULT_QUOTAS[tenant.tenant_type])


class SimulatorState:
    """Everything a request handler reads or an admin call changes."""

    def __init__(
        self,
        config: SimulatorConfig,
        clock: Clock | None = None,
        factory: UniverseFactory | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SimClock()
        self._factory = factory or default_factory(config)
        self.base_url = ""
        self.reset()

    def reset(self) -> None:
        """Back to the start-up state: seeded tenants, no faults, no tokens, zero stats."""
        self.settings: Settings = self.config.settings
        self.universe = self._factory()
        self.runtimes = {name: self._runtime(t) for name, t in self.universe.tenants.items()}
        self.by_client_id = {t.client_id: t for t in self.universe.tenants.values()}
        self.tokens: dict[str, Grant] = {}
        seed = self.config.fault_seed if self.config.fault_seed is not None else self.config.seed
        self.faults = FaultPlan(seed)
        self.latency_rng = random.Random(f"{seed}/latency")
        self.stats: Stats = getattr(self, "stats", None) or Stats()
        self.stats.reset()
        self.cache = RenderCache()
        self.token_ips = TokenIpLimiter()
        self.clock.reset()

    def _runtime(self, tenant: Tenant) -> TenantRuntime:
        return TenantRuntime(tenant, self.settings.concurrency_limit)

    def register_tenant(self, tenant: Tenant) -> None:
        self.runtimes[tenant.name] = self._runtime(tenant)
        self.by_client_id[tenant.client_id] = tenant

    def apply_settings(self, settings: Settings) -> None:
        self.settings = settings
        for runtime in self.runtimes.values():
            if runtime.concurrency_override is None:
                runtime.gate.limit = settings.concurrency_limit

    def set_revoked(self, tenant: Tenant, revoked: bool) -> None:
        """Revoking also invalidates the tenant's tokens for good, as deactivating a client does."""
        self.runtimes[tenant.name].revoked = revoked
        if revoked:
            self.tokens = {k: g for k, g in self.tokens.items() if g.tenant != tenant.name}

    def set_concurrency_limit(self, tenant: Tenant, limit: object) -> None:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError("concurrency_limit must be null or an integer >= 1")
        runtime = self.runtimes[tenant.name]
        runtime.concurrency_override = limit
        runtime.gate.limit = self.settings.concurrency_limit if limit is None else limit

    def issue_token(self, tenant: Tenant) -> str:
        if len(self.tokens) > _TOKEN_SWEEP_SIZE:
            self._sweep_tokens()
        token = uuid.uuid4().hex
        expires_at = self.clock.monotonic() + self.settings.token_ttl_seconds
        self.tokens[token] = Grant(tenant.name, expires_at)
        self.stats.tokens_issued[tenant.name] += 1
        return token

    def _sweep_tokens(self) -> None:
        now = self.clock.monotonic()
        self.tokens = {k: g for k, g in self.tokens.items() if g.expires_at > now}

    def tenant_for_token(self, token: str) -> Tenant | None:
        """The tenant a bearer token belongs to, or None when unknown, expired or revoked."""
        grant = self.tokens.get(token)
        if grant is None or self.clock.monotonic() >= grant.expires_at:
            return None
        tenant = self.universe.tenants.get(grant.tenant)
        if tenant is None or self.runtimes[tenant.name].revoked:
            return None
        return tenant

    def latency_seconds(self) -> float:
        mean, jitter = self.settings.latency_ms, self.settings.latency_jitter_ms
        if mean <= 0 and jitter <= 0:
            return 0.0
        return max(0.0, mean + self.latency_rng.uniform(-jitter, jitter)) / 1000.0


def default_factory(config: SimulatorConfig) -> UniverseFactory:
    """Tenants from the config's file when given, else generated from the seed."""
    if config.tenants_file is not None:
        text = config.tenants_file.read_text(encoding="utf-8")
        return lambda: universe_from_dict(json.loads(text))
    return lambda: generate_universe(config.seed, config.tenants, config.workflows)
