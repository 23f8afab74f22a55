"""Requests of one event loop waiting for a slot of one tenant, woken when a slot is released.

A release in this process hands off to the first waiter at once (no polling gap). Only the
first waiter polls the store for slots freed by other processes; the others re-check rarely,
so many waiters cost the store one query per poll interval, not one each.
"""

from __future__ import annotations

import asyncio
from collections import deque

from zuora_workflow_sync.pacing.timing import IDLE_RECHECK_SECONDS


class _Waiter:
    __slots__ = ("event", "released")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.released = False


class LocalWaiters:
    """First-come-first-served waiters of one tenant on one event loop."""

    def __init__(self) -> None:
        self._queue: deque[_Waiter] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    async def wait(self, poll_seconds: float) -> None:
        """Return when a slot is released here, or when it is time to ask the store again."""
        waiter = _Waiter()
        self._queue.append(waiter)
        try:
            while not waiter.released:
                first = self._queue[0] is waiter
                waiter.event.clear()
                try:
                    async with asyncio.timeout(poll_seconds if first else IDLE_RECHECK_SECONDS):
                        await waiter.event.wait()
                except TimeoutError:
                    return
                # Woken without a release: this waiter became the first, so it polls now.
        finally:
            first = bool(self._queue) and self._queue[0] is waiter
            self._queue.remove(waiter)
            if first and self._queue:
                self._queue[0].event.set()

    def wake_one(self) -> None:
        """A slot was released: the first waiter not yet woken tries to take it."""
        for waiter in self._queue:
            if not waiter.released:
                waiter.released = True
                waiter.event.set()
                return
