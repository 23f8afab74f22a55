"""`JobProgress`: what a sync job's requests are doing, for its timeouts and its record.

A job is held by pacing while one of its requests waits for the tenant's pacing (a slot, a
quota, a pause) and none is in flight: that time is the run's `pacing_wait_seconds`, and it
counts neither towards the no-progress timeout nor towards the job's cap, since the customer
did nothing wrong: the no-progress clock is the time since the last Zuora reply (any status)
less the pacing holds since then. `TrackedGate` wraps a `RequestGate` to feed it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from zuora_workflow_sync.zuora.gate import Observation, RequestGate, RequestSlot

Clock = Callable[[], float]


class JobProgress:
    """Counts of one job's requests waiting on pacing and in flight; one event loop's."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.started = self._last_reply = clock()
        self._held_at_last_reply = 0.0
        self.waiting = 0
        self.in_flight = 0
        self.replies = 0
        self.workflows = 0  # listed, once the listing is complete
        self._held_since: float | None = None
        self._held_seconds = 0.0

    def wait_began(self) -> None:
        self.waiting += 1
        self._update()

    def wait_ended(self, *, granted: bool) -> None:
        self.waiting -= 1
        self.in_flight += granted
        self._update()

    def request_ended(self) -> None:
        self.in_flight -= 1
        self._update()

    def listed(self, workflows: int) -> None:
        """The listing is complete: the job's cap grows with its workflows."""
        self.workflows = workflows

    def replied(self) -> None:
        self.replies += 1
        self._last_reply = self._clock()
        self._held_at_last_reply = self.pacing_wait_seconds()

    @property
    def held(self) -> bool:
        """True while pacing alone holds the job back."""
        return self._held_since is not None

    def pacing_wait_seconds(self) -> float:
        """Seconds pacing alone held the job back so far."""
        current = 0.0 if self._held_since is None else self._clock() - self._held_since
        return self._held_seconds + current

    def idle_seconds(self) -> float:
        """Seconds since the last reply (or the start), pacing holds excluded."""
        held_since_reply = self.pacing_wait_seconds() - self._held_at_last_reply
        return self._clock() - self._last_reply - held_since_reply

    def active_seconds(self) -> float:
        """Seconds since the job started, pacing holds excluded."""
        return self._clock() - self.started - self.pacing_wait_seconds()

    def _update(self) -> None:
        held = self.waiting > 0 and self.in_flight == 0
        if held and self._held_since is None:
            self._held_since = self._clock()
        elif not held and self._held_since is not None:
            self._held_seconds += self._clock() - self._held_since
            self._held_since = None


class _TrackedSlot:
    __slots__ = ("_progress", "_slot")

    def __init__(self, slot: RequestSlot, progress: JobProgress) -> None:
        self._slot = slot
        self._progress = progress

    def observe(self, observation: Observation) -> None:
        self._progress.replied()
        self._slot.observe(observation)


class TrackedGate:
    """A `RequestGate` that tells `progress` when its requests wait, go and get replies."""

    def __init__(self, gate: RequestGate, progress: JobProgress) -> None:
        self._gate = gate
        self._progress = progress

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[RequestSlot]:
        progress = self._progress
        progress.wait_began()
        granted = False
        try:
            async with self._gate.slot() as slot:
                granted = True
                progress.wait_ended(granted=True)
                yield _TrackedSlot(slot, progress)
        finally:
            if granted:
                progress.request_ended()
            else:
                progress.wait_ended(granted=False)
