"""`PacingGate`: the `RequestGate` of one tenant over a shared store.

A granted slot is extended while its request runs (`keepalive`). Entering a slot waits until
the store grants one: a slot released in this process is handed
on at once (renewed in one store step), slots freed elsewhere are found by jittered polling,
and a pause or a used-up quota is slept through with full jitter, unless it is longer than
`max_wait_seconds`, in which case `PacedTooLongError` defers the run. Leaving tells
the store what the response said (AIMD, pauses) and gives the slot back, even on cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import TypeVar

from zuora_workflow_sync.errors import PacedTooLongError
from zuora_workflow_sync.monitoring import metrics
from zuora_workflow_sync.pacing.aimd import Assessment, Signal, assess, effective_cap
from zuora_workflow_sync.pacing.handoff import ReleasedSlot, SlotHandoff
from zuora_workflow_sync.pacing.keepalive import SlotKeepAlive
from zuora_workflow_sync.pacing.limits import TenantLimits
from zuora_workflow_sync.pacing.store import (
    Admission,
    Outcome,
    PacingStore,
    QuotaWindow,
    Refusal,
    SlotRequest,
)
from zuora_workflow_sync.pacing.timing import poll_delay, resume_delay
from zuora_workflow_sync.pacing.waiters import LocalWaiters
from zuora_workflow_sync.zuora.gate import Observation, RequestSlot

logger = logging.getLogger("zuora_workflow_sync.pacing")

T = TypeVar("T")
_NO_RESPONSE = Assessment(Signal.HOLD, None, "no response")


@dataclass
class GateCounters:
    """What one gate did, for the run's log line."""

    requests: int = 0
    waits: int = 0
    wait_seconds: float = 0.0
    pauses: int = 0
    limit_decreases: int = 0
    reclaimed_slots: int = 0

    def as_dict(self) -> dict[str, int | float]:
        values: dict[str, int | float] = asdict(self)
        values["wait_seconds"] = round(self.wait_seconds, 3)
        return values


@dataclass(frozen=True, slots=True)
class GateTuning:
    """How a gate waits: slot expiry, longest known wait, quota window lengths."""

    slot_ttl_seconds: float
    max_wait_seconds: float
    window_seconds: tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class TenantLocal:
    """What the gates of one tenant on one event loop share: waiters and parked slots."""

    waiters: LocalWaiters
    handoff: SlotHandoff


class _Slot:
    __slots__ = ("observation",)

    def __init__(self) -> None:
        self.observation: Observation | None = None

    def observe(self, observation: Observation) -> None:
        self.observation = observation


async def _settled(awaitable: Awaitable[T]) -> tuple[T, bool]:
    """Run a store step to its end even if the caller is cancelled meanwhile.

    Returns its result and whether a cancellation arrived (the caller re-raises it after
    cleaning up), so a slot is never taken or kept without the caller knowing.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task), False
    except asyncio.CancelledError:
        return await task, True


class PacingGate:
    """Slots of one tenant's requests, shared with every worker through `store`."""

    def __init__(
        self,
        store: PacingStore,
        limits: TenantLimits,
        local: TenantLocal,
        tuning: GateTuning,
        rng: random.Random,
    ) -> None:
        self.limits = limits
        self.counters = GateCounters()
        self._store = store
        self._local = local
        self._tuning = tuning
        self._rng = rng
        windows = zip(tuning.window_seconds, limits.quotas, strict=True)
        self._windows = tuple(QuotaWindow(seconds, quota) for seconds, quota in windows)

    def __repr__(self) -> str:
        return f"PacingGate({self.limits.key!r}, max_in_flight={self.limits.max_in_flight})"

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[RequestSlot]:
        request = SlotRequest(
            key=self.limits.key,
            token=secrets.token_hex(8),
            max_in_flight=self.limits.max_in_flight,
            windows=self._windows,
            slot_ttl_seconds=self._tuning.slot_ttl_seconds,
        )
        admission = await self._admit(request)
        keepalive = SlotKeepAlive(self._store, request)
        slot = _Slot()
        try:
            yield slot
        finally:
            keepalive.stop()
            await self._leave(request, admission.now_us, slot.observation)

    async def _admit(self, request: SlotRequest) -> Admission:
        started = time.monotonic()
        waited = False
        while True:
            admission = await self._try(request)
            self.counters.reclaimed_slots += admission.reclaimed
            if admission.granted:
                self.counters.requests += 1
                if waited:
                    self.counters.waits += 1
                    self.counters.wait_seconds += time.monotonic() - started
                    metrics.pacing_waited(time.monotonic() - started)
                return admission
            waited = True
            await self._wait(admission)

    async def _try(self, request: SlotRequest) -> Admission:
        """One store step: renew a parked slot of this loop if there is one, else acquire."""
        parked = self._local.handoff.take()
        if parked is None:
            admission, cancelled = await _settled(self._store.try_acquire(request))
        else:
            (outcome, admission), cancelled = await _settled(
                self._store.renew(
                    parked.request,
                    started_at_us=parked.started_at_us,
                    assessment=parked.assessment,
                    request=request,
                )
            )
            parked.report(outcome, parked.assessment)
        if cancelled:
            if admission.granted:
                self._local.handoff.park(self._released(request, admission.now_us, _NO_RESPONSE))
            raise asyncio.CancelledError
        return admission

    async def _wait(self, admission: Admission) -> None:
        if admission.refusal is Refusal.BUSY:
            await self._local.waiters.wait(poll_delay(self._rng))
            return
        if admission.wait_seconds > self._tuning.max_wait_seconds:
            reason = f"{admission.refusal} {admission.detail}".strip()
            raise PacedTooLongError(
                f"tenant {self.limits.key} is paced ({reason}) for "
                f"{admission.wait_seconds:.0f}s, longer than the gate waits",
                status=None,
                retry_after_seconds=admission.wait_seconds,
            )
        await asyncio.sleep(resume_delay(admission.wait_seconds, self._rng))

    async def _leave(
        self, request: SlotRequest, started_at_us: int, observation: Observation | None
    ) -> None:
        assessment = assess(observation) if observation is not None else _NO_RESPONSE
        released = self._released(request, started_at_us, assessment)
        if assessment.signal is not Signal.DECREASE and not assessment.pause_seconds:
            self._local.handoff.park(released)
            return
        # Bad news is shared before the request returns, so no worker sends into a known 429.
        _, cancelled = await _settled(self._local.handoff.release(released))
        if cancelled:
            raise asyncio.CancelledError

    def _released(
        self, request: SlotRequest, started_at_us: int, assessment: Assessment
    ) -> ReleasedSlot:
        return ReleasedSlot(request, started_at_us, assessment, self._report)

    def _report(self, outcome: Outcome, assessment: Assessment) -> None:
        key, cap = self.limits.key, self.limits.max_in_flight
        if outcome.paused:
            self.counters.pauses += 1
            logger.warning(
                "pacing: tenant %s paused for %.1fs: %s",
                key,
                outcome.pause_seconds,
                assessment.reason,
                extra={"pacing_key": key, "pause_seconds": outcome.pause_seconds},
            )
        if outcome.limit_after < outcome.limit_before:
            self.counters.limit_decreases += 1
            logger.info(
                "pacing: tenant %s in-flight limit lowered from %d to %d: %s",
                key,
                effective_cap(outcome.limit_before, cap),
                effective_cap(outcome.limit_after, cap),
                assessment.reason,
                extra={"pacing_key": key, "pacing_limit": outcome.limit_after},
            )
        elif effective_cap(outcome.limit_after, cap) > effective_cap(outcome.limit_before, cap):
            self._local.waiters.wake_one()
