"""The simulated latency is the whole service time: the simulator's own work happens inside it."""

from __future__ import annotations

import asyncio
import time

from aiohttp.test_utils import make_mocked_request

from zuora_workflow_sync.simulator.config import Settings, SimulatorConfig
from zuora_workflow_sync.simulator.faults import Route
from zuora_workflow_sync.simulator.pipeline import answer
from zuora_workflow_sync.simulator.replies import Exchange, Reply, json_reply
from zuora_workflow_sync.simulator.state import SimulatorState

LATENCY_MS = 300
WORK_SECONDS = 0.15


def _slow_reply() -> Reply:
    time.sleep(WORK_SECONDS)  # a reply that takes the simulator long to build
    return json_reply(200, {"ok": True})


def test_reply_leaves_when_the_latency_has_passed_since_arrival_not_after_the_work() -> None:
    state = SimulatorState(
        SimulatorConfig(tenants=1, workflows=1, settings=Settings(latency_ms=LATENCY_MS))
    )

    async def go() -> float:
        exchange = Exchange(make_mocked_request("GET", "/workflows/1/export"), Route.EXPORT)
        _, status = await answer(state, exchange, _slow_reply, None)
        assert status == 200
        return time.monotonic() - exchange.arrived

    took = asyncio.run(go())
    assert LATENCY_MS / 1000 <= took < LATENCY_MS / 1000 + WORK_SECONDS * 0.6
