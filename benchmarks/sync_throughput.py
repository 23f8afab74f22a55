"""How close a fleet's sync comes to the time Zuora's allowed concurrency makes necessary.

Starts the simulator (`workflow-sync simulator`, its own process) with T tenants of W workflows
each and a fixed latency per request, registers a customer per tenant, starts P
`workflow-sync worker` processes (C jobs each) and times a full re-export of every customer:
from the dispatch (no stagger) to the last run succeeded in the ledger. A first, untimed pass
syncs everyone once, so the timed pass is the steady state of hourly syncs: tokens come from
the shared token cache (a cold start is bound by the token endpoint's 100 requests per minute
per IP instead, which the product paces; see the README).

The API-bound floor is what the same requests need at exactly the allowed concurrency: every
customer's sync is one listing page after another, then its exports `cap` at a time, each
request taking the simulated latency; the customers' syncs are laid out on the P x C job slots
(longest first). wall / floor is the figure of merit; the simulator's 429 count must be 0 and
its per-tenant peak in flight at most `cap`. For reference, a bare client (the product's HTTP
pool, no pacing, database or queue) then sends the same requests at the same slots and cap:
what the simulator and HTTP themselves cost above the floor on this machine.

    .venv/bin/python benchmarks/sync_throughput.py                   # PostgreSQL + Redis, 4 x 1
    .venv/bin/python benchmarks/sync_throughput.py --configuration sqlite --tenants 50
    .venv/bin/python benchmarks/sync_throughput.py --repeat 1 --timeline   # where a job's time goes
    .venv/bin/python benchmarks/sync_throughput.py --change-fraction 1     # every pass writes tasks

`--timeline` has the workers record their jobs' events (`timeline/sitecustomize.py`) and prints
the median time of each step of a job over the timed passes (`job_timeline.py`).
`--change-fraction F` gives that share of each tenant's workflows a new active version before
each timed pass (untimed, through the simulator's admin API), so the pass stores their new
content: history rows, and their tasks replaced with every index on them (otherwise a pass
re-exports unchanged content and writes no task). `--redis-url` picks the Redis database of
the queue and coordination (PostgreSQL + Redis only; flushed before and after). The workers'
peak resident set (VmHWM) is printed after the timed passes (issue 17: <= 150 MB at
`--concurrency 16`).
`--without-read-indexes` drops what the read side and the dashboard added to the write path
(revisions 0004 and 0006: the task text index and its triggers, the priority index, the indexes
on workflows' tombstones and runs' finish times) after the migrations: the same code, the store
as it was before them. Run it beside a run without the flag to see what those indexes cost:

    .venv/bin/python benchmarks/sync_throughput.py --change-fraction 1 --without-read-indexes
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from pydantic import SecretStr
from sqlalchemy import create_engine, func, select, text

import job_timeline
from zuora_workflow_sync.domain.models import RunStatus, RunTrigger
from zuora_workflow_sync.queue import open_queue
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin, TenantCredentials
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import db_now
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import SyncRunRow
from zuora_workflow_sync.sync.dispatch import Dispatcher, DispatchOptions
from zuora_workflow_sync.zuora import TransportLimits, new_http_client

BIN = Path(sys.executable).parent
LINE = re.compile(r"(\S+)  (http://\S+)  client_id=(\S+)  client_secret=(\S+)")
ADMIN_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BENCH_REDIS = "redis://127.0.0.1:6379/15"


@dataclass(frozen=True)
class Options:
    configuration: str
    tenants: int
    workflows: int
    latency_ms: float
    cap: int
    workers: int
    concurrency: int
    repeat: int
    timeout: float
    timeline: bool
    change_fraction: float
    redis_url: str
    without_read_indexes: bool


@dataclass(frozen=True)
class Pass:
    wall_seconds: float
    floor_seconds: float
    requests: int
    too_many_requests: int
    tokens_issued: int
    peak_in_flight: int
    failed_runs: int
    updated_workflows: int

    @property
    def ratio(self) -> float:
        return self.wall_seconds / self.floor_seconds


def parse_args() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configuration", choices=["postgres_redis", "sqlite"])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--workflows", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--cap", type=int, default=4, help="requests in flight per tenant")
    # Four single-job processes: on two cores more job slots make the fleet CPU-bound (3 x 16
    # syncs 200 customers in ~10 s, where the API-bound floor is 1.5 s), and threads of one
    # process share its interpreter lock.
    parser.add_argument("--workers", type=int, default=4, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs per worker process")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per pass")
    parser.add_argument(
        "--timeline", action="store_true", help="print where a job's time goes (instrumented)"
    )
    parser.add_argument(
        "--change-fraction",
        type=float,
        default=0.0,
        help="share of workflows given a new active version before each timed pass",
    )
    parser.add_argument(
        "--redis-url", default=BENCH_REDIS, help="queue and coordination (flushed before and after)"
    )
    parser.add_argument(
        "--without-read-indexes",
        action="store_true",
        help="drop the read side's indexes and triggers (0004, 0006) after the migrations",
    )
    args = parser.parse_args()
    if not 0.0 <= args.change_fraction <= 1.0:
        parser.error("--change-fraction is from 0 to 1")
    return Options(
        configuration=args.configuration or "postgres_redis",
        tenants=args.tenants,
        workflows=args.workflows,
        latency_ms=args.latency_ms,
        cap=args.cap,
        workers=args.workers,
        concurrency=args.concurrency,
        repeat=args.repeat,
        timeout=args.timeout,
        timeline=args.timeline,
        change_fraction=args.change_fraction,
        redis_url=args.redis_url,
        without_read_indexes=args.without_read_indexes,
    )


# -- the pieces ----------------------------------------------------------------------------


@contextmanager
def simulator(options: Options) -> Iterator[tuple[str, list[tuple[str, str, str, str]]]]:
    """The simulator in its own process: its base URL and (tenant, URL, id, secret) lines."""
    args = ["simulator", "--port", "0", "--tenants", str(options.tenants)]
    args += ["--workflows", str(options.workflows), "--seed", "7"]
    args += ["--latency-ms", str(options.latency_ms)]
    process = subprocess.Popen(
        [str(BIN / "workflow-sync"), *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        tenants: list[tuple[str, str, str, str]] = []
        while len(tenants) < options.tenants:
            line = process.stdout.readline()
            if not line:
                raise SystemExit("the simulator exited before listing its tenants")
            match = LINE.search(line)
            if match:
                name, url, client_id, secret = match.groups()
                tenants.append((name, url, client_id, secret))
        base_url = tenants[0][1] if tenants else ""
        yield base_url, tenants
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def installation(options: Options) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A fresh home, database and queue for this benchmark: its settings and process env."""
    with tempfile.TemporaryDirectory(prefix="zws-sync-bench-") as home:
        values: dict[str, str] = {
            "ZWS_HOME": home,
            "ZWS_SECRET_KEYS": Keyring.generate_key(),
            "ZWS_STAGGER_MIN_SECONDS": "0",
            "ZWS_STAGGER_MAX_SECONDS": "0",
            "ZWS_PACING_MAX_IN_FLIGHT": str(options.cap),
            "ZWS_EXPORT_CONCURRENCY": str(options.cap),
            "ZWS_WORKER_CONCURRENCY": str(options.concurrency),
            "ZWS_LOG_LEVEL": "WARNING",
            # Tokens are fetched by the untimed warm-up pass: lift the per-IP token budget.
            "ZWS_PACING_TOKEN_REQUESTS_PER_MINUTE": "100000",
        }
        database = None
        if options.configuration == "postgres_redis":
            database = f"zws_bench_sync_{uuid.uuid4().hex[:10]}"
            admin = create_engine(ADMIN_POSTGRES, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{database}"'))
            values["ZWS_DATABASE_URL"] = ADMIN_POSTGRES.rsplit("/", 1)[0] + "/" + database
            values["ZWS_QUEUE_URL"] = options.redis_url
            redis.Redis.from_url(options.redis_url).flushdb()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZWS_")}
        env.update(values)
        settings = Settings(
            **{k.removeprefix("ZWS_").lower(): v for k, v in values.items()}  # type: ignore[arg-type]
        )
        try:
            migrate.upgrade(settings.resolved_database_url)
            if options.without_read_indexes:
                drop_read_indexes(settings.resolved_database_url)
            yield settings, env
        finally:
            if database is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
                admin.dispose()
                redis.Redis.from_url(options.redis_url).flushdb()


# Revisions 0004 and 0006's additions to the tables a sync writes (their names are frozen there).
READ_INDEXES = {
    "sqlite": (
        "DROP TRIGGER workflow_tasks_search_insert",
        "DROP TRIGGER workflow_tasks_search_delete",
        "DROP TRIGGER workflow_tasks_search_update",
        "DROP TABLE workflow_tasks_search",
        "DROP VIEW workflow_tasks_search_text",
    ),
    "postgresql": ("DROP INDEX ix_workflow_tasks_search_text",),
}
COMMON_READ_INDEXES = (
    "DROP INDEX ix_workflow_tasks_priority",
    "DROP INDEX ix_workflows_customer_id_deleted_at",
    "DROP INDEX ix_sync_runs_finished_at",
)


def drop_read_indexes(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            for statement in READ_INDEXES[engine.dialect.name] + COMMON_READ_INDEXES:
                conn.execute(text(statement))
    finally:
        engine.dispose()
    print("read-side indexes and triggers dropped (the store as before revisions 0004, 0006)")


def peak_rss_mb(pid: int) -> float:
    """A live process's peak resident set (VmHWM in /proc/PID/status), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


@contextmanager
def workers(options: Options, env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    home = Path(env["ZWS_HOME"])
    if options.timeline:
        (home / "timeline").mkdir()
        here = str(Path(__file__).resolve().parent / "timeline")
        env = {**env, "ZWS_BENCH_TIMELINE": str(home / "timeline")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
    processes = []
    for number in range(options.workers):
        with open(home / f"worker-{number}.out", "wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        str(BIN / "workflow-sync"),
                        "worker",
                        "--concurrency",
                        str(options.concurrency),
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        time.sleep(3.0)  # imports and queue connections, before any timing
        if any(process.poll() is not None for process in processes):
            raise SystemExit("a worker exited at start; run one by hand to see why")
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def diagnosed(home: Path) -> Iterator[None]:
    """On failure, show the last errors the processes logged (their log is in `home`)."""
    try:
        yield
    except BaseException:
        lines = []
        for path in [*sorted(home.glob("*.out")), home / "zws.log"]:
            if path.exists():
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()
                lines += [f"{path.name}: {line[:300]}" for line in text if "rror" in line]
        print("\n".join(lines[-15:]) or "no error logged", file=sys.stderr)
        raise


def register(settings: Settings, admin: SimulatorAdmin) -> None:
    """A customer per simulated tenant (multi-entity tenants with their first entity)."""
    with build_runtime(settings) as runtime:
        for view in admin.tenants():
            credentials = TenantCredentials.from_view(view)
            runtime.customers.add(
                f"Customer of {credentials.name}",
                zuora_base_url=credentials.base_url,
                client_id=credentials.client_id,
                client_secret_encrypted=runtime.keyring.encrypt(
                    SecretStr(credentials.client_secret)
                ),
                entity_id=credentials.entity_ids[0] if view["multi_entity"] else None,
            )


def sync_everyone(settings: Settings, timeout: float) -> tuple[float, int, int]:
    """Dispatch a full re-export of every customer; seconds until the last run succeeded, the
    runs not succeeded and the workflows stored with new content.

    Both ends are the database's clock (read before the dispatch; the last run's
    `finished_at`), so the ledger is polled only every 0.1 s: a tight poll would itself take
    CPU from the fleet it measures."""
    with build_runtime(settings, migrate=False) as runtime:
        queue = open_queue(settings.resolved_queue_url, settings.default_queue)
        try:
            with runtime.engine.connect() as conn:
                before = conn.execute(
                    select(func.coalesce(func.max(SyncRunRow.id), 0))
                ).scalar_one()
                started = conn.execute(select(db_now())).scalar_one()
            deadline = time.monotonic() + timeout
            result = Dispatcher(runtime, queue, (Exception,), say=lambda _: None).dispatch(
                DispatchOptions(None, force=True, full=True, trigger=RunTrigger.COMMAND)
            )
            active = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
            while True:
                with runtime.engine.connect() as conn:
                    left = conn.execute(
                        select(func.count()).where(SyncRunRow.status.in_(active))
                    ).scalar_one()
                if left == 0:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"{left} of {result.dispatched} runs still active after {timeout} s"
                    )
                time.sleep(0.1)
            ours = SyncRunRow.id > before
            with runtime.engine.connect() as conn:
                failed = conn.execute(
                    select(func.count()).where(ours, SyncRunRow.status != RunStatus.SUCCEEDED.value)
                ).scalar_one()
                ended = conn.execute(select(func.max(SyncRunRow.finished_at)).where(ours))
                last = ended.scalar_one()
                updated = conn.execute(
                    select(func.coalesce(func.sum(SyncRunRow.updated_count), 0)).where(ours)
                ).scalar_one()
            if last is None:
                raise SystemExit("no run of this pass finished")
            return (last - started).total_seconds(), failed, int(updated)
        finally:
            queue.close()


def floor_seconds(options: Options, chains: list[int]) -> float:
    """Longest-first layout of per-customer request chains on the fleet's job slots."""
    slots = [0.0] * (options.workers * options.concurrency)
    latency = options.latency_ms / 1000.0
    for rounds in sorted(chains, reverse=True):
        start = heapq.heappop(slots)
        heapq.heappush(slots, start + rounds * latency)
    return max(slots)


def chain_rounds(options: Options, tokens: int, pages: int, exports: int) -> int:
    """Sequential request rounds of one customer's sync at `cap` in flight."""
    return tokens + pages + math.ceil(exports / options.cap)


def change_workflows(admin: SimulatorAdmin, fraction: float) -> int:
    """A new active version for `fraction` of each tenant's workflows (the first by id)."""
    changed = 0
    for view in admin.tenants():
        ids = sorted(item["id"] for item in admin.workflows(view["name"]))
        for workflow_id in ids[: round(fraction * len(ids))]:
            admin.add_version(view["name"], workflow_id, activate=True)
            changed += 1
    return changed


def measure(options: Options, admin: SimulatorAdmin, settings: Settings) -> Pass:
    if options.change_fraction > 0:
        changed = change_workflows(admin, options.change_fraction)
        print(f"  {changed} workflows given a new active version before this pass", flush=True)
    admin.reset_stats()
    wall, failed, updated = sync_everyone(settings, options.timeout)
    stats = admin.stats()
    tenants = stats["tenants"]
    chains = []
    for view in tenants.values():
        pages = sum(view["requests"].get("list", {}).values())
        exports = sum(view["requests"].get("export", {}).values())
        chains.append(chain_rounds(options, view["tokens_issued"], pages, exports))
    return Pass(
        wall_seconds=wall,
        floor_seconds=floor_seconds(options, chains),
        requests=stats["totals"]["requests"],
        too_many_requests=stats["totals"]["too_many_requests"],
        tokens_issued=stats["totals"]["tokens_issued"],
        peak_in_flight=max((view["max_in_flight"] for view in tenants.values()), default=0),
        failed_runs=failed,
        updated_workflows=updated,
    )


async def reference_seconds(options: Options, admin: SimulatorAdmin) -> float:
    """The same requests sent by a bare client (the product's HTTP pool, no pacing, no
    database, no queue) at the same job slots and per-tenant cap: what this environment itself
    costs above the floor."""
    views = admin.tenants()
    slots = options.workers * options.concurrency
    # The product's own HTTP stack (httpx over aiohttp), so the two differ only in the product.
    async with new_http_client(
        TransportLimits(), max_connections=slots * (options.cap + 1)
    ) as http:
        lanes: list[tuple[str, dict[str, str]]] = []
        for view in views:
            credentials = TenantCredentials.from_view(view)
            form = {
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "grant_type": "client_credentials",
            }
            token = (await http.post(f"{credentials.base_url}/oauth/token", data=form)).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            if view["multi_entity"]:
                headers["Zuora-Entity-Ids"] = credentials.entity_ids[0]
            lanes.append((credentials.base_url, headers))
        pending = list(reversed(lanes))

        async def sync_like(base_url: str, headers: dict[str, str]) -> None:
            listing = await http.get(
                f"{base_url}/workflows", params={"page_length": "50"}, headers=headers
            )
            gate = asyncio.Semaphore(options.cap)

            async def export(workflow_id: int) -> None:
                async with gate:
                    await http.get(f"{base_url}/workflows/{workflow_id}/export", headers=headers)

            await asyncio.gather(*(export(item["id"]) for item in listing.json()["data"]))

        async def slot() -> None:
            while pending:
                await sync_like(*pending.pop())

        started = time.monotonic()
        await asyncio.gather(*(slot() for _ in range(slots)))
        return time.monotonic() - started


def main() -> None:
    options = parse_args()
    print(
        f"{options.configuration}: {options.tenants} tenants x {options.workflows} workflows, "
        f"latency {options.latency_ms:g} ms, cap {options.cap} per tenant, "
        f"{options.workers} workers x {options.concurrency} jobs, change fraction "
        f"{options.change_fraction:g}" + (", without read indexes" * options.without_read_indexes),
        flush=True,
    )
    with simulator(options) as (base_url, _tenants), installation(options) as (settings, env):
        admin = SimulatorAdmin(base_url)
        admin.update_settings(token_ip_limit_enabled=False)
        register(settings, admin)
        with workers(options, env) as processes, diagnosed(settings.home):
            warm, failed, _ = sync_everyone(settings, options.timeout)
            print(f"warm-up pass (tokens fetched): {warm:.2f} s, {failed} not succeeded")
            timed_from = time.monotonic()
            passes = [measure(options, admin, settings) for _ in range(options.repeat)]
            peaks = [peak_rss_mb(process.pid) for process in processes]
        if options.timeline:  # the workers wrote their events as they stopped
            print("\n".join(job_timeline.report(settings.home / "timeline", timed_from)))
        reference = asyncio.run(reference_seconds(options, admin))
    header = "pass  wall s  floor s  ratio  requests  429s  tokens  peak/tenant  failed  updated"
    print(header)
    for number, figure in enumerate(passes, 1):
        print(
            f"{number:>4}  {figure.wall_seconds:6.2f}  {figure.floor_seconds:7.2f}  "
            f"{figure.ratio:5.2f}  {figure.requests:8d}  {figure.too_many_requests:4d}  "
            f"{figure.tokens_issued:6d}  {figure.peak_in_flight:11d}  {figure.failed_runs:6d}  "
            f"{figure.updated_workflows:7d}"
        )
    print(
        f"worker peak RSS (VmHWM) at {options.concurrency} jobs each: "
        + ", ".join(f"{peak:.0f}" for peak in peaks)
        + " MB (target <= 150 MB at 16 jobs per worker)"
    )
    ratios = [figure.ratio for figure in passes]
    print(f"ratio: best {min(ratios):.3f}, median {statistics.median(ratios):.3f} (target <= 1.15)")
    best = min(figure.wall_seconds for figure in passes)
    print(
        f"bare reference client, same slots and cap: {reference:.2f} s "
        f"(floor x {reference / passes[0].floor_seconds:.2f}); product / reference: "
        f"{best / reference:.2f}"
    )


if __name__ == "__main__":
    main()
