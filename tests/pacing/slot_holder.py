"""Another OS process for the cross-process tests: takes slots of one tenant and reports when.

    python -m tests.pacing.slot_holder URL HOME KEY CAP [--requests N] [--hold S] [--die]

Prints `ready`, waits for a line on stdin, then holds `--requests` slots (8 coroutines) for
`--hold` seconds each and prints the JSON list of [start, end] wall times spent inside them.
With `--die` it takes one slot and exits without releasing it, as a crashed worker would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from zuora_workflow_sync.pacing import PacingGate, TenantLimits, open_pacer
from zuora_workflow_sync.settings import Settings

COROUTINES = 8


async def _hold(gate: PacingGate, count: int, seconds: float, spans: list[list[float]]) -> None:
    for _ in range(count):
        async with gate.slot():
            started = time.time()
            await asyncio.sleep(seconds)
            spans.append([started, time.time()])


async def _main(args: argparse.Namespace) -> list[list[float]]:
    settings = Settings(home=Path(args.home), coordination_url=args.url)
    limits = TenantLimits(args.key, args.cap, 10_000, 100_000, 1_000_000)
    async with open_pacer(settings, slot_ttl_seconds=args.slot_ttl) as pacer:
        gate = pacer.gate(limits)
        if args.die:
            await gate.slot().__aenter__()
            os._exit(0)
        spans: list[list[float]] = []
        share, extra = divmod(args.requests, COROUTINES)
        counts = [share + (1 if i < extra else 0) for i in range(COROUTINES)]
        await asyncio.gather(*(_hold(gate, n, args.hold, spans) for n in counts))
        return spans


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("url", "home", "key"):
        parser.add_argument(name)
    parser.add_argument("cap", type=int)
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--hold", type=float, default=0.04)
    parser.add_argument("--slot-ttl", type=float, default=None)
    parser.add_argument("--die", action="store_true")
    args = parser.parse_args()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    sys.stdout.write(json.dumps(asyncio.run(_main(args))) + "\n")


if __name__ == "__main__":
    main()
