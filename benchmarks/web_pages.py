"""p50 / p95 of each dashboard page and of /metrics on a store of 1,000 customers x 50 workflows.

Seeds a throwaway database as `read_paths.py` does (`read_seed.py`: through the store, as syncs
write it), then starts the real server in a process of its own (`workflow-sync serve` on a free
loopback port, no login) and times, from this process, sequential HTTP requests with httpx over
a kept-alive connection: the time until the whole body arrived. Pages take turns, each with
inputs drawn from a seeded random generator (a customer, one of its workflows, one with two or
more stored versions for the diff, a run). Caches are warm: each page is fetched five times
before the timed requests. The target is a p95 of at most 150 ms per page.

    .venv/bin/python benchmarks/web_pages.py                       # both, 1,000 x 50, 50 rounds
    .venv/bin/python benchmarks/web_pages.py --customers 3 --workflows 4 --iterations 3 \\
        --configuration sqlite                                     # a smoke run, seconds
    .venv/bin/python benchmarks/web_pages.py --database-url URL    # a database kept by --keep
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import Engine, select

import read_paths
import read_seed
from zuora_workflow_sync.store.tables import SyncRunRow, WorkflowRow

TARGET_MS = 150.0
WARM_UP = 5
Page = Callable[[random.Random], str]


def parse_args() -> read_paths.Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configuration", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--workflows", type=int, default=50, help="per customer")
    parser.add_argument("--iterations", type=int, default=50, help="timed requests per page")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database(s)")
    parser.add_argument("--database-url", help="measure this seeded database (no seed, kept)")
    parser.add_argument("--admin-url", default=read_seed.ADMIN_POSTGRES, help="PostgreSQL admin")
    parser.add_argument("--seed", type=int, default=12, help="of the inputs' random generator")
    args = parser.parse_args()
    if min(args.customers, args.workflows, args.iterations) < 1:
        parser.error("--customers, --workflows and --iterations must be at least 1")
    configurations = (
        [read_paths._configuration_of(args.database_url)]
        if args.database_url is not None
        else ["sqlite", "postgres"]
        if args.configuration == "both"
        else [args.configuration]
    )
    return read_paths.Options(
        configurations=configurations,
        customers=args.customers,
        workflows=args.workflows,
        iterations=args.iterations,
        keep=args.keep,
        database_url=args.database_url,
        admin_url=args.admin_url,
        explain=False,
        seed=args.seed,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(url: str) -> Iterator[str]:
    """`workflow-sync serve` on `url`'s database, in a process of its own: its base URL."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="zws-web-bench-") as home:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("ZWS_")}
        environment.update(ZWS_HOME=home, ZWS_DATABASE_URL=url, ZWS_LOG_LEVEL="WARNING")
        command = [str(Path(sys.executable).parent / "workflow-sync"), "serve", "--port", str(port)]
        server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_up(base, server)
            yield base
        finally:
            server.terminate()
            server.wait(30)


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"workflow-sync serve exited with {server.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("workflow-sync serve did not answer /healthz within 60 s")


def pages(engine: Engine) -> dict[str, Page]:
    """Each page, and how it draws its input."""
    corpus = read_paths.load_corpus(engine)
    with engine.connect() as conn:
        ids = dict(conn.execute(select(WorkflowRow.customer_id, WorkflowRow.id)).all())
        local = {
            (row[0], row[1]): row[2]
            for row in conn.execute(
                select(WorkflowRow.customer_id, WorkflowRow.zuora_workflow_id, WorkflowRow.id)
            )
        }
        runs = list(conn.execute(select(SyncRunRow.id).limit(5000)).scalars())
    customers = sorted(ids)

    def workflow(rng: random.Random) -> int:
        return local[rng.choice(corpus.workflows)]

    return {
        "/ (overview)": lambda rng: "/",
        "/customers": lambda rng: "/customers",
        "/customers?q=": lambda rng: f"/customers?q=customer-{rng.randint(1, 999):03d}",
        "/customers/{id}": lambda rng: f"/customers/{rng.choice(customers)}",
        "/workflows?customer=": lambda rng: f"/workflows?customer={rng.choice(customers)}",
        "/workflows/{id}": lambda rng: f"/workflows/{workflow(rng)}",
        "/workflows/{id}/diff": lambda rng: (
            f"/workflows/{local[rng.choice(corpus.versioned)]}/diff"
        ),
        "/tasks?action_type=": lambda rng: "/tasks?action_type=Email",
        "/tasks?text=": lambda rng: "/tasks?text=" + read_paths.TEXTS[rng.randrange(4)],
        "/runs": lambda rng: "/runs",
        "/runs/{id}": lambda rng: f"/runs/{rng.choice(runs)}",
        "/api/overview": lambda rng: "/api/overview",
        "/metrics": lambda rng: "/metrics",
    }


def timed_rounds(
    base: str, table: dict[str, Page], options: read_paths.Options
) -> dict[str, list[float]]:
    rng = random.Random(options.seed)
    samples: dict[str, list[float]] = {name: [] for name in table}
    with httpx.Client(base_url=base, timeout=60) as client:
        for page in table.values():
            for _ in range(WARM_UP):
                client.get(page(rng)).raise_for_status()
        for _ in range(options.iterations):
            for name, page in table.items():
                path = page(rng)
                started = time.perf_counter()
                answer = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                answer.raise_for_status()
                samples[name].append(elapsed)
    return samples


def measure(options: read_paths.Options, configuration: str) -> list[read_paths.Row]:
    with read_paths.seeded(options, configuration) as engine:
        table = pages(engine)
        url = engine.url.render_as_string(hide_password=False)
        with served(url) as base:
            samples = timed_rounds(base, table, options)
    return [
        read_paths.Row(name, configuration, values, TARGET_MS) for name, values in samples.items()
    ]


def main() -> None:
    options = parse_args()
    rows: list[read_paths.Row] = []
    for configuration in options.configurations:
        measured = measure(options, configuration)
        read_paths.print_table(measured)  # at once: a later configuration may fail
        rows += measured
    if len(options.configurations) > 1:
        read_paths.print_table(rows)


if __name__ == "__main__":
    main()
