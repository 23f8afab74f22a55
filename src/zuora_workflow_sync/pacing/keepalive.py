"""Keeping a held slot alive: its holder extends it every third of its TTL while its request runs.

A slot's TTL is short (`pacer.SLOT_TTL_SECONDS`), so a holder that died (`kill -9`, a host
lost) frees its slots within seconds; a live holder's request may take as long as its deadline,
since the slot is extended while it is in flight. Most requests end before the first extension
is due: they cost a timer set and cancelled, and no store step.
"""

from __future__ import annotations

import asyncio
import logging

from zuora_workflow_sync.pacing.store import PacingStore, SlotRequest

logger = logging.getLogger("zuora_workflow_sync.pacing")


class SlotKeepAlive:
    """Extends one held slot in the store until `stop`; one event loop's."""

    __slots__ = ("_interval", "_loop", "_request", "_stopped", "_store", "_task", "_timer")

    def __init__(self, store: PacingStore, request: SlotRequest) -> None:
        self._store = store
        self._request = request
        self._interval = request.slot_ttl_seconds / 3
        self._loop = asyncio.get_running_loop()
        self._stopped = False
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(self._interval, self._due)

    def stop(self) -> None:
        """The request is over: extend no more (an extension under way lands harmlessly: a
        released slot is not brought back)."""
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _due(self) -> None:
        self._timer = None
        if not self._stopped:
            self._task = self._loop.create_task(self._extend())

    async def _extend(self) -> None:
        request = self._request
        try:
            held = await self._store.extend(request.key, [request.token], request.slot_ttl_seconds)
        except Exception as error:  # the slot may then expire under its request: logged
            held = 1
            logger.warning(
                "pacing: could not extend a slot of tenant %s: %s",
                request.key,
                type(error).__name__,
                extra={"pacing_key": request.key},
            )
        if not held and not self._stopped:
            logger.warning(
                "pacing: a slot of tenant %s expired while its request ran (the loop stalled?)",
                request.key,
                extra={"pacing_key": request.key},
            )
        if not self._stopped:
            self._timer = self._loop.call_later(self._interval, self._due)
