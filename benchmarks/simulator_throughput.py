"""Throughput of the Zuora simulator: server in one process, load generator in another.

Starts `workflow-sync simulator` on 127.0.0.1 (free port), lifts the tenants' quotas through the
admin API, then drives a realistic mix for a bounded time: one token per tenant, list pages
(page_length 50) and exports (some `?version=latest`), plus a few definitions and versions.
Prints requests/s, errors and latency percentiles. All traffic stays on 127.0.0.1.

    .venv/bin/python benchmarks/simulator_throughput.py --duration 10 --connections 64
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

import aiohttp

from zuora_workflow_sync.simulator import SimulatorAdmin

LINE = re.compile(r"(\S+)  (http://\S+)  client_id=(\S+)  client_secret=(\S+)")
HUGE_QUOTAS = {"minute": 10**9, "hour": 10**9, "day": 10**9}


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    client_id: str
    client_secret: str
    entity_id: str | None
    workflow_ids: tuple[int, ...]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def start_server(
    tenants: int, workflows: int, seed: int
) -> tuple[subprocess.Popen[str], list[str]]:
    """The CLI in its own process; returns it and its tenant lines (name, URL, credentials)."""
    command = [sys.executable, "-c", "from zuora_workflow_sync.cli import main; main()"]
    args = ["simulator", "--port", "0", "--tenants", str(tenants), "--workflows", str(workflows)]
    args += ["--seed", str(seed), "--no-enforce-token-ip-limit"]
    process = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = [process.stdout.readline().strip() for _ in range(tenants)]
    return process, lines


def prepare_targets(lines: list[str]) -> list[Target]:
    base_url = lines[0].split("  ")[1]
    targets = []
    with SimulatorAdmin(base_url) as admin:
        for view in admin.tenants():
            admin.patch_tenant(view["name"], quotas=HUGE_QUOTAS)
            ids = tuple(w["id"] for w in admin.workflows(view["name"]))
            entity = view["entity_ids"][0] if view["multi_entity"] else None
            secret = view["client_secret"]
            targets.append(Target(view["name"], base_url, view["client_id"], secret, entity, ids))
    return targets


async def fetch_token(session: aiohttp.ClientSession, target: Target) -> dict[str, str]:
    form = {
        "client_id": target.client_id,
        "client_secret": target.client_secret,
        "grant_type": "client_credentials",
    }
    async with session.post(f"{target.base_url}/oauth/token", data=form) as response:
        token = (await response.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    if target.entity_id is not None:
        headers["Zuora-Entity-Ids"] = target.entity_id
    return headers


def pick_path(rng: random.Random, target: Target) -> str:
    roll = rng.random()
    pages = max(1, -(-len(target.workflow_ids) // 50))
    if roll < 0.2:
        return f"/workflows?page={rng.randint(1, pages)}&page_length=50"
    workflow_id = rng.choice(target.workflow_ids)
    if roll < 0.8:
        return f"/workflows/{workflow_id}/export"
    if roll < 0.9:
        return f"/workflows/{workflow_id}/export?version=latest"
    return rng.choice((f"/workflows/{workflow_id}", f"/workflows/{workflow_id}/versions"))


async def worker(
    session: aiohttp.ClientSession,
    target: Target,
    headers: dict[str, str],
    deadline: float,
    tally: Tally,
    seed: int,
) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        url = target.base_url + pick_path(rng, target)
        started = time.perf_counter()
        try:
            async with session.get(url, headers=headers) as response:
                await response.read()
                status = response.status
        except aiohttp.ClientError:
            tally.errors += 1
            continue
        tally.latencies.append(time.perf_counter() - started)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if status != 200:
            tally.errors += 1


async def drive(targets: list[Target], connections: int, duration: float) -> tuple[Tally, float]:
    tally = Tally()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        tokens = [await fetch_token(session, target) for target in targets]
        started = time.monotonic()
        deadline = started + duration
        jobs = [
            worker(session, targets[i % len(targets)], tokens[i % len(targets)], deadline, tally, i)
            for i in range(connections)
        ]
        await asyncio.gather(*jobs)
        elapsed = time.monotonic() - started
    return tally, elapsed


def load_generator(
    targets: list[Target], connections: int, duration: float, results: multiprocessing.Queue[str]
) -> None:
    tally, elapsed = asyncio.run(drive(targets, connections, duration))
    results.put(report(tally, elapsed, connections))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def report(tally: Tally, elapsed: float, connections: int) -> str:
    done = len(tally.latencies)
    lines = [
        f"requests: {done} in {elapsed:.1f} s with {connections} connections",
        f"throughput: {done / elapsed:.0f} requests/s",
        f"errors: {tally.errors}  statuses: {dict(sorted(tally.statuses.items()))}",
    ]
    if done:
        lines.append(
            f"latency ms: p50 {percentile(tally.latencies, 0.5):.1f}  "
            f"p90 {percentile(tally.latencies, 0.9):.1f}  "
            f"p99 {percentile(tally.latencies, 0.99):.1f}  "
            f"max {max(tally.latencies) * 1000:.1f}  "
            f"mean {statistics.fmean(tally.latencies) * 1000:.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections")
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--workflows", type=int, default=200, help="workflows per tenant")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    server, lines = start_server(options.tenants, options.workflows, options.seed)
    try:
        targets = prepare_targets(lines)
        results: multiprocessing.Queue[str] = multiprocessing.Queue()
        generator = multiprocessing.Process(
            target=load_generator, args=(targets, options.connections, options.duration, results)
        )
        generator.start()
        print(results.get(timeout=options.duration + 120))
        generator.join()
        with SimulatorAdmin(targets[0].base_url) as admin:
            stats = admin.stats()
        print(f"server: max in flight {stats['max_in_flight']}, total {stats['totals']}")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
