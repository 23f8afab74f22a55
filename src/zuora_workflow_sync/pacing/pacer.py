"""`Pacer`: the gates of one event loop (one sync job) over the coordination store.

Open one per job with `open_pacer(settings)`: it connects to Redis or the SQLite file the
settings name, and closes the connection on exit; or it borrows the Redis client of the worker
thread's `JobSession`, which lives as long as that thread's event loop (an asyncio Redis client
belongs to the loop that created it).
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from zuora_workflow_sync.coordination import parse_coordination_url
from zuora_workflow_sync.pacing.gate import GateTuning, PacingGate, TenantLocal
from zuora_workflow_sync.pacing.handoff import SlotHandoff
from zuora_workflow_sync.pacing.limits import TenantLimits
from zuora_workflow_sync.pacing.redis_store import RedisPacingStore
from zuora_workflow_sync.pacing.sqlite_store import SqlitePacingStore
from zuora_workflow_sync.pacing.store import PacingStore, TenantSnapshot
from zuora_workflow_sync.pacing.waiters import LocalWaiters
from zuora_workflow_sync.settings import Settings

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

QUOTA_WINDOW_SECONDS = (60.0, 3600.0, 86400.0)
# A slot's TTL: its holder extends it every third of this while the request runs, so the slots
# of a holder that died are free again within this long.
SLOT_TTL_SECONDS = 6.0
# As long as the client's RetryPolicy.max_retry_after_seconds: a longer pause or quota wait
# goes up to the run's retry instead of holding a worker.
MAX_WAIT_SECONDS = 300.0


class Pacer:
    """Hands out a `PacingGate` per tenant; gates of one tenant share waiters and parked slots.

    `aclose` (run by `open_pacer` on exit) releases the slots it still holds in the store.
    """

    def __init__(
        self,
        store: PacingStore,
        tuning: GateTuning,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self._tuning = tuning
        self._rng = rng or random.Random()
        self._tenants: dict[str, TenantLocal] = {}

    def gate(self, limits: TenantLimits) -> PacingGate:
        """A gate for `limits.key` with counters of its own."""
        local = self._tenants.get(limits.key)
        if local is None:
            waiters = LocalWaiters()
            local = TenantLocal(waiters, SlotHandoff(self.store, waiters))
            self._tenants[limits.key] = local
        return PacingGate(self.store, limits, local, self._tuning, self._rng)

    async def snapshot(self, limits: TenantLimits) -> TenantSnapshot:
        """The tenant's shared state once this pacer's parked slots are released."""
        local = self._tenants.get(limits.key)
        if local is not None:
            await local.handoff.flush()
        return await self.store.snapshot(limits.key, limits.max_in_flight)

    async def aclose(self) -> None:
        """Release every parked slot; the store itself is closed by its opener."""
        for local in self._tenants.values():
            await local.handoff.flush()


def gate_tuning(
    settings: Settings,
    *,
    slot_ttl_seconds: float | None = None,
    max_wait_seconds: float = MAX_WAIT_SECONDS,
    window_seconds: tuple[float, float, float] = QUOTA_WINDOW_SECONDS,
) -> GateTuning:
    """Slots expire `SLOT_TTL_SECONDS` after their last extension unless `slot_ttl_seconds`
    says otherwise."""
    ttl = slot_ttl_seconds or SLOT_TTL_SECONDS
    return GateTuning(ttl, max_wait_seconds, window_seconds)


async def open_store(settings: Settings, *, redis: aioredis.Redis | None = None) -> PacingStore:
    """The store of `settings.resolved_coordination_url`: Redis or a SQLite file.

    A Redis that does not answer must not stop syncs (the inline fallback runs exactly when the
    Redis queue is down): pacing then uses this machine's SQLite file, with a warning, so caps
    still hold across this machine's processes. `redis`: a client of that Redis to use (and
    leave open) instead of a new one.
    """
    target = parse_coordination_url(settings.resolved_coordination_url)
    if target.kind == "sqlite":
        return await SqlitePacingStore.open(target)
    store = RedisPacingStore.open(target) if redis is None else RedisPacingStore(redis, owned=False)
    from redis.exceptions import RedisError  # imported with the client (or its missing extra)

    try:
        await store.ping()
    except (RedisError, OSError) as exc:
        await store.aclose()
        logger.warning(
            "coordination store %r unreachable (%s); pacing with this machine's file store",
            target,
            type(exc).__name__,
            extra={"event": "coordination_unreachable"},
        )
        local = parse_coordination_url(f"sqlite:///{settings.home / 'coordination.sqlite3'}")
        return await SqlitePacingStore.open(local)
    return store


@asynccontextmanager
async def open_pacer(
    settings: Settings,
    *,
    slot_ttl_seconds: float | None = None,
    max_wait_seconds: float = MAX_WAIT_SECONDS,
    window_seconds: tuple[float, float, float] = QUOTA_WINDOW_SECONDS,
    rng: random.Random | None = None,
    redis: aioredis.Redis | None = None,
    store: PacingStore | None = None,
) -> AsyncIterator[Pacer]:
    """A pacer on the coordination store for the running event loop, closed on exit (a
    borrowed `redis` client, or a borrowed `store` used instead of opening one, is left
    open)."""
    tuning = gate_tuning(
        settings,
        slot_ttl_seconds=slot_ttl_seconds,
        max_wait_seconds=max_wait_seconds,
        window_seconds=window_seconds,
    )
    opened = None
    if store is None:
        store = opened = await open_store(settings, redis=redis)
    try:
        pacer = Pacer(store, tuning, rng=rng)
        try:
            yield pacer
        finally:
            await pacer.aclose()
    finally:
        if opened is not None:
            await opened.aclose()
