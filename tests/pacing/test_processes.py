"""Pacing across OS processes sharing one store: the cap holds, a dead holder's slot expires."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from zuora_workflow_sync.pacing import open_pacer
from zuora_workflow_sync.settings import Settings

from .conftest import HEALTHY, limits, observe, timed

ROOT = Path(__file__).resolve().parents[2]


def start(url: str, home: Path, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.pacing.slot_holder", url, str(home), *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def go(processes: list[subprocess.Popen[str]]) -> list[str]:
    """Release every process at once, then collect what each printed (killed if stuck)."""
    try:
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [process.communicate(timeout=60)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.communicate()
    assert [process.returncode for process in processes] == [0] * len(processes)
    return outputs


def most_at_once(spans: list[list[float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    now = most = 0
    for _, step in events:  # an end sorts before a start at the same instant
        now += step
        most = max(most, now)
    return most


def test_in_flight_never_exceeds_cap_when_three_processes_share_a_tenant(
    coordination_url: str, tmp_path: Path
) -> None:
    processes = [
        start(coordination_url, tmp_path, "customer:9", "3", "--requests", "16") for _ in range(3)
    ]
    spans = [span for output in go(processes) for span in json.loads(output)]
    assert len(spans) == 48
    assert 2 <= most_at_once(spans) <= 3


def test_slot_of_a_dead_process_is_reclaimed_when_it_expires(
    coordination_url: str, tmp_path: Path, settings: Settings
) -> None:
    dead = start(coordination_url, tmp_path, "customer:1", "1", "--die", "--slot-ttl", "0.5")
    assert go([dead]) == [""]

    async def main() -> tuple[int, float, int]:
        async with open_pacer(settings) as pacer:
            gate = pacer.gate(limits(max_in_flight=1))
            held = (await pacer.snapshot(gate.limits)).in_flight
            elapsed = await timed(lambda: observe(gate, HEALTHY))
            return held, elapsed, gate.counters.reclaimed_slots

    held, elapsed, reclaimed = asyncio.run(main())
    assert held == 1
    assert reclaimed == 1
    assert elapsed < 1.0
