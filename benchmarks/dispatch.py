"""How fast `sync-workflows` dispatches every due customer, and how much memory it takes.

For each configuration (SQLite data + Huey's SQLite queue in a temporary folder; PostgreSQL in a
throwaway database + Redis database 14, flushed before and after) and each size, a first process
creates the due customers; a fresh process then times the real dispatch (`Dispatcher.dispatch`
with the stagger, as `sync-workflows` runs it: streamed in batches, each recorded in the ledger
and enqueued in one round trip), its CPU time (the rest is waiting for the database, the queue
or the disk) and its peak resident memory (ru_maxrss); after a reset of the ledger and the
queue, another fresh process does it the naive way: load every customer into a list, record a
run per customer, enqueue one job at a time. The ratio is naive seconds / real seconds.
Customer creation is in neither timing nor memory figure. Only loopback traffic; each process
has a timeout.

    .venv/bin/python benchmarks/dispatch.py                       # 10,000 and 100,000
    .venv/bin/python benchmarks/dispatch.py --sizes 1000 --configurations sqlite
    .venv/bin/python benchmarks/dispatch.py --sizes 100000 --skip-naive   # the real path only
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy import String, cast, delete, insert, literal, select, text

from zuora_workflow_sync.domain.models import CustomerStatus, RunRequest, RunTrigger
from zuora_workflow_sync.queue import QueueUnavailableError, open_queue
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import CustomerRow, SyncRunRow
from zuora_workflow_sync.store.types import UTCDateTime
from zuora_workflow_sync.sync.dispatch import Dispatcher, DispatchOptions

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
KEY = Keyring.generate_key()


@dataclass(frozen=True)
class Target:
    """Where one measurement runs: a database URL, a queue URL and a folder for SQLite files."""

    database_url: str
    queue_url: str
    home: str
    customers: int

    def settings(self) -> Settings:
        return Settings(
            home=Path(self.home),
            database_url=self.database_url,
            queue_url=self.queue_url,
            secret_keys=SecretStr(KEY),
        )


@dataclass(frozen=True)
class Figure:
    seconds: float
    cpu_seconds: float  # of this process: the rest is waiting for the database, queue or disk
    peak_mib: float


# -- the child processes -------------------------------------------------------------------


def create_customers(target: Target) -> None:
    """Insert the due customers with one INSERT ... SELECT over a recursive counter."""
    url = target.database_url
    if url.startswith("sqlite"):
        migrate.upgrade(url)
    engine = create_engine_for(url)
    counter = select(literal(1).label("n")).cte("counter", recursive=True)
    counter = counter.union_all(select(counter.c.n + 1).where(counter.c.n < target.customers))
    now = literal(datetime.now(UTC), UTCDateTime())
    rows = select(
        literal("customer-").concat(cast(counter.c.n, String)),
        literal(CustomerStatus.ACTIVE.value),
        literal("https://rest.test.zuora.com"),
        literal("client"),
        literal("not-used-here"),
        literal(0),
        now,
        now,
    )
    columns = ["name", "sync_status", "zuora_base_url", "client_id", "client_secret_encrypted"]
    columns += ["consecutive_failures", "created_at", "updated_at"]
    try:
        with engine.begin() as conn:
            conn.execute(insert(CustomerRow).from_select(columns, rows))
            conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()


def reset_runs(target: Target) -> None:
    """Empty the ledger (the next dispatch starts from the same state)."""
    engine = create_engine_for(target.database_url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # No dead rows left behind for the next run; only this throwaway database's
                # (empty) workflow history references the runs.
                conn.execute(text("TRUNCATE sync_runs CASCADE"))
            else:
                conn.execute(delete(SyncRunRow))
    finally:
        engine.dispose()


def dispatch(target: Target) -> tuple[float, float]:
    """The real path, as `sync-workflows` runs it: (seconds, CPU seconds of this process)."""
    settings = target.settings()
    said: list[str] = []
    with build_runtime(settings, migrate=False) as runtime:
        queue = open_queue(settings.resolved_queue_url, settings.default_queue)
        try:
            dispatcher = Dispatcher(runtime, queue, (QueueUnavailableError,), say=said.append)
            started, cpu_started = time.perf_counter(), time.process_time()
            result = dispatcher.dispatch(DispatchOptions(customer_id=None, dispatched_by="bench"))
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            queued = queue.pending_count() + queue.scheduled_count()
        finally:
            queue.close()
    if not result.dispatched == len(result.queued) == queued == target.customers:
        raise RuntimeError(f"dispatched {result.dispatched}, queued {queued}: {said}")
    return seconds, cpu


def dispatch_naively(target: Target) -> tuple[float, float]:
    """Every customer in a list, a run recorded for each, one enqueue (storage write) a job."""
    settings = target.settings()
    rng = random.Random()
    with build_runtime(settings, migrate=False) as runtime:
        queue = open_queue(settings.resolved_queue_url, settings.default_queue)
        try:
            started, cpu_started = time.perf_counter(), time.process_time()
            now = datetime.now(UTC)
            customers = runtime.customers.list(status=CustomerStatus.ACTIVE, limit=10**9)
            delays = {
                customer.id: rng.uniform(settings.stagger_min_seconds, settings.stagger_max_seconds)
                for customer in customers
            }
            recorded = runtime.ledger.record_batch(
                [RunRequest(c.id, now + timedelta(seconds=delays[c.id])) for c in customers],
                queue=settings.default_queue,
                trigger=RunTrigger.COMMAND,
                dispatched_by="bench",
                max_attempts=settings.max_attempts,
            )
            for run in recorded.recorded:
                queue.enqueue(run.run_id, delays[run.customer_id])
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            queued = queue.pending_count() + queue.scheduled_count()
        finally:
            queue.close()
    if queued != target.customers:
        raise RuntimeError(f"naive dispatch queued {queued} of {target.customers}")
    return seconds, cpu


PHASES = {"create": create_customers, "reset": reset_runs}
TIMED = {"dispatch": dispatch, "naive": dispatch_naively}


def child(phase: str, spec: str) -> None:
    target = Target(**json.loads(spec))
    if phase in PHASES:
        PHASES[phase](target)
        return
    seconds, cpu = TIMED[phase](target)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mib": peak_mib}))


# -- the parent ----------------------------------------------------------------------------


def run_child(phase: str, target: Target, timeout: float) -> Figure | None:
    command = [sys.executable, __file__, "--child", phase, json.dumps(asdict(target))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{phase} failed:\n{done.stderr[-3000:]}")
    if phase in PHASES:
        return None
    return Figure(**json.loads(done.stdout.splitlines()[-1]))


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@contextmanager
def sqlite_targets(count: int) -> Iterator[tuple[Target, Target]]:
    with tempfile.TemporaryDirectory(prefix="zws-bench-") as folder:
        database = f"sqlite:///{folder}/zws.sqlite3"
        yield (
            Target(database, f"sqlite:///{folder}/queue.sqlite3", folder, count),
            Target(database, f"sqlite:///{folder}/queue-naive.sqlite3", folder, count),
        )


@contextmanager
def postgres_targets(count: int, admin_url: str, redis_url: str) -> Iterator[tuple[Target, Target]]:
    name = f"zws_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine_for(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    # CREATE/DROP DATABASE take no bound parameters; the name is generated above.
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = str(urlsplit(admin_url)._replace(path=f"/{name}").geturl())
    flush_redis(redis_url)
    try:
        migrate.upgrade(database)
        with tempfile.TemporaryDirectory(prefix="zws-bench-") as folder:
            target = Target(database, redis_url, folder, count)
            yield target, target
    finally:
        flush_redis(redis_url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(
    targets: tuple[Target, Target], timeout: float, *, naive: bool
) -> tuple[Figure, Figure | None]:
    real_target, naive_target = targets
    run_child("create", real_target, timeout)
    real = run_child("dispatch", real_target, timeout)
    assert real is not None
    if not naive:
        return real, None
    run_child("reset", real_target, timeout)
    if real_target.queue_url.startswith("redis"):
        flush_redis(real_target.queue_url)
    return real, run_child("naive", naive_target, timeout)


def check_loopback(*urls: str) -> None:
    for url in urls:
        host = urlsplit(url).hostname
        if host not in LOOPBACK:
            raise SystemExit(f"refusing {host!r}: this benchmark talks to loopback only")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--configurations", nargs="+", choices=["sqlite", "postgresql"], default=None
    )
    parser.add_argument(
        "--postgres-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")  # the tests own 1-15
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per process")
    parser.add_argument(
        "--skip-naive", action="store_true", help="time the real dispatch only (much quicker)"
    )
    args = parser.parse_args()
    check_loopback(args.postgres_admin_url, args.redis_url)
    configurations = args.configurations or ["sqlite", "postgresql"]
    header = f"{'configuration':<22}{'customers':>10}{'seconds':>9}{'CPU s':>7}{'peak MiB':>10}"
    if not args.skip_naive:
        header += f"{'naive s':>9}{'naive MiB':>11}{'ratio':>7}"
    print(header, flush=True)
    for configuration in configurations:
        label = "SQLite" if configuration == "sqlite" else "PostgreSQL + Redis"
        for size in args.sizes:
            targets: AbstractContextManager[tuple[Target, Target]] = (
                sqlite_targets(size)
                if configuration == "sqlite"
                else postgres_targets(size, args.postgres_admin_url, args.redis_url)
            )
            with targets as pair:
                real, naive = measure(pair, args.timeout, naive=not args.skip_naive)
            line = (
                f"{label:<22}{size:>10,}{real.seconds:>9.2f}{real.cpu_seconds:>7.2f}"
                f"{real.peak_mib:>10.1f}"
            )
            if naive is not None:
                line += f"{naive.seconds:>9.2f}{naive.peak_mib:>11.1f}"
                line += f"{naive.seconds / real.seconds:>6.1f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()
