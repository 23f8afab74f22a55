"""Slots kept alive by their holder: a live request keeps its slot past the TTL, a dead holder's
slot is free within the TTL (seconds, not the request deadline), and an extension never brings
an expired or released slot back. On both stores."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from zuora_workflow_sync.pacing import open_pacer
from zuora_workflow_sync.pacing.aimd import Assessment, Signal
from zuora_workflow_sync.pacing.pacer import SLOT_TTL_SECONDS, open_store
from zuora_workflow_sync.pacing.store import SlotRequest
from zuora_workflow_sync.settings import Settings

from .conftest import HEALTHY, limits, observe
from .test_processes import go, start

TTL = 0.3
# Long enough that a loaded machine (a test suite on 2 cores) does not stall the keepalive for a
# whole TTL: at 0.3 s the SQLite store's extension once came too late under load.
ALIVE_TTL = 1.0


def slot_request(token: str, ttl: float = TTL) -> SlotRequest:
    return SlotRequest("customer:7", token, 4, (), ttl)


def test_slot_outlives_its_ttl_while_its_request_runs_when_its_holder_is_alive(
    settings: Settings,
) -> None:
    async def main() -> tuple[list[int], int]:
        async with (
            open_pacer(settings, slot_ttl_seconds=ALIVE_TTL) as holder,
            open_pacer(settings, slot_ttl_seconds=ALIVE_TTL) as other,
        ):
            gate = holder.gate(limits(max_in_flight=1))
            seen: list[int] = []
            async with gate.slot():
                for _ in range(3):  # three TTLs
                    await asyncio.sleep(ALIVE_TTL)
                    seen.append((await other.store.snapshot(gate.limits.key, 1)).in_flight)
            await holder.snapshot(gate.limits)  # the parked slot is released
            return seen, (await other.store.snapshot(gate.limits.key, 1)).in_flight

    seen, after = asyncio.run(main())
    assert seen == [1, 1, 1]
    assert after == 0


def test_extension_brings_back_no_slot_when_it_expired_or_was_released(
    settings: Settings,
) -> None:
    async def main() -> tuple[int, int, int, int]:
        store = await open_store(settings)
        try:
            expired, released, live = slot_request("a"), slot_request("b"), slot_request("c")
            for request in (expired, released, live):
                assert (await store.try_acquire(request)).granted
            no_news = Assessment(Signal.HOLD, None, "test")
            await store.finish(released, started_at_us=0, assessment=no_news)
            assert await store.extend("customer:7", ["c"], 5.0) == 1
            await asyncio.sleep(TTL + 0.1)
            gone = await store.extend("customer:7", ["a", "b"], 5.0)
            kept = await store.extend("customer:7", ["c"], 5.0)
            held = (await store.snapshot("customer:7", 4)).in_flight
            return gone, kept, held, await store.extend("customer:7", [], 5.0)
        finally:
            await store.aclose()

    assert asyncio.run(main()) == (0, 1, 1, 0)


def test_slot_of_a_dead_holder_is_free_within_the_default_ttl(
    coordination_url: str, tmp_path: Path, settings: Settings
) -> None:
    dead = start(coordination_url, tmp_path, "customer:1", "1", "--die")  # the default TTL
    assert go([dead]) == [""]
    died_at = time.monotonic()

    async def main() -> int:
        async with open_pacer(settings) as pacer:
            gate = pacer.gate(limits(max_in_flight=1))
            assert (await pacer.snapshot(gate.limits)).in_flight == 1
            await observe(gate, HEALTHY)
            return gate.counters.reclaimed_slots

    assert asyncio.run(main()) == 1
    assert time.monotonic() - died_at < SLOT_TTL_SECONDS + 1.0
