"""Released slots a process still holds in the store for a moment, for its next request.

When a request leaves its slot with nothing alarming to report, the slot is parked here instead
of being released at once: a request of the same tenant on this event loop that starts within
`LINGER_SECONDS` (a waiter is woken for it) renews it, releasing and taking in one store step;
otherwise the slot is released in the background. Responses that lower the limit or pause the
tenant are never parked (the gate reports them before the request returns).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from zuora_workflow_sync.pacing.aimd import Assessment
from zuora_workflow_sync.pacing.store import Outcome, PacingStore, SlotRequest
from zuora_workflow_sync.pacing.timing import LINGER_SECONDS
from zuora_workflow_sync.pacing.waiters import LocalWaiters

logger = logging.getLogger("zuora_workflow_sync.pacing")

Report = Callable[[Outcome, Assessment], None]


@dataclass(eq=False)
class ReleasedSlot:
    """A slot whose request is done: what to tell the store, and whom to report the outcome."""

    request: SlotRequest
    started_at_us: int
    assessment: Assessment
    report: Report
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class SlotHandoff:
    """The parked slots of one tenant on one event loop, and their background releases."""

    def __init__(self, store: PacingStore, waiters: LocalWaiters) -> None:
        self._store = store
        self._waiters = waiters
        self._parked: deque[ReleasedSlot] = deque()
        self._releases: set[asyncio.Task[None]] = set()

    def park(self, slot: ReleasedSlot) -> None:
        """Keep `slot` for the next local request; release it if none comes in time."""
        slot.timer = asyncio.get_running_loop().call_later(LINGER_SECONDS, self._expire, slot)
        self._parked.append(slot)
        self._waiters.wake_one()

    def take(self) -> ReleasedSlot | None:
        """A parked slot to renew, or None."""
        if not self._parked:
            return None
        slot = self._parked.popleft()
        if slot.timer is not None:
            slot.timer.cancel()
        return slot

    async def release(self, slot: ReleasedSlot) -> None:
        """Give `slot` back to the store and wake a local waiter for the freed room."""
        outcome = await self._store.finish(
            slot.request, started_at_us=slot.started_at_us, assessment=slot.assessment
        )
        self._waiters.wake_one()
        slot.report(outcome, slot.assessment)

    async def flush(self) -> None:
        """Release every parked slot now and wait for the background releases."""
        while (slot := self.take()) is not None:
            self._release_later(slot)
        while self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)

    def _expire(self, slot: ReleasedSlot) -> None:
        if slot in self._parked:
            self._parked.remove(slot)
            self._release_later(slot)

    def _release_later(self, slot: ReleasedSlot) -> None:
        task = asyncio.get_running_loop().create_task(self._release_quietly(slot))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release_quietly(self, slot: ReleasedSlot) -> None:
        try:
            await self.release(slot)
        except Exception as error:  # a background task: nobody else would see it
            logger.warning(
                "pacing: could not release a slot of tenant %s (it expires in %.0fs): %s",
                slot.request.key,
                slot.request.slot_ttl_seconds,
                type(error).__name__,
                extra={"pacing_key": slot.request.key},
            )
