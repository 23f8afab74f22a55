"""Per-tenant pacing shared by every thread, process and host: in-flight caps, request quotas,
pauses after a 429 and adaptive (AIMD) concurrency, in Redis or the coordination SQLite file.

    async with open_pacer(settings) as pacer:
        key = tenant_key(base_url, client_id)
        gate = pacer.gate(tenant_limits(key, environment=..., tenant_type=None,
                                        max_in_flight=None, settings=settings))
        client = ZuoraClient(..., gate=gate)
        ...
        gate.counters.as_dict()   # requests, waits, wait_seconds, pauses, limit_decreases, ...
"""

from zuora_workflow_sync.pacing.gate import GateCounters, GateTuning, PacingGate
from zuora_workflow_sync.pacing.limits import (
    ZUORA_QUOTAS,
    TenantLimits,
    ZuoraQuotas,
    tenant_key,
    tenant_limits,
    token_limits,
)
from zuora_workflow_sync.pacing.pacer import Pacer, open_pacer
from zuora_workflow_sync.pacing.store import PacingStore, TenantSnapshot

__all__ = [
    "ZUORA_QUOTAS",
    "GateCounters",
    "GateTuning",
    "Pacer",
    "PacingGate",
    "PacingStore",
    "TenantLimits",
    "TenantSnapshot",
    "ZuoraQuotas",
    "open_pacer",
    "tenant_key",
    "tenant_limits",
    "token_limits",
]
