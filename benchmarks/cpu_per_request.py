"""The product's CPU per Zuora request, apart from the simulator's, on both engines.

Starts the simulator (`workflow-sync simulator`, its own process, no simulated latency) with T
tenants of W workflows, registers a customer per tenant and syncs them twice: a first full sync,
then, after 10 % of each tenant's workflows got a new active version (the simulator's admin API),
an incremental re-sync. Each phase's CPU is read per process:

- SQLite (the embedded default): `sync-workflows --sync --force [--full]` in a subprocess; its
  CPU time (all threads) from its first request to Zuora to its exit, through a probe loaded by
  `sitecustomize` (`timeline/sitecustomize.py`): imports and start-up are not counted.
- PostgreSQL + Redis: P `workflow-sync worker` processes (C jobs each), started before the
  phases; their CPU (utime + stime in /proc/PID/stat) from the dispatch to the last run ended.
  Their idle CPU over the same time (measured before the phases) is printed beside it.

The simulator's CPU over the phase (/proc) and the requests it answered (its stats: tokens,
listings, exports) give both figures per request. A "bare" row first: the same requests as a
full sync sent by this process through the product's HTTP pool, strict JSON parsing and
models alone (no pacing, token cache, store or queue): what the client's own layers cost a
request on this machine, below which the product cannot go.

PostgreSQL: a database of its own, created and dropped; Redis: `--redis-url` (default db 0)
under a queue name of its own, whose keys are deleted at the end (pacing and token entries
expire by themselves; nothing is flushed).

    .venv/bin/python benchmarks/cpu_per_request.py
    .venv/bin/python benchmarks/cpu_per_request.py --engine sqlite --repeat 3
    .venv/bin/python benchmarks/cpu_per_request.py --compare-ref main   # main's code, then this
    .venv/bin/python benchmarks/cpu_per_request.py --profile /tmp/prof  # py-spy, if installed

`--compare-ref GITREF` checks GITREF out in a temporary worktree and runs its product processes
(`PYTHONPATH` to its `src`) and this tree's in alternation, in the same run: on a shared machine
compare those, not figures of another day. `--profile DIR` records each product process with
py-spy (`--gil`: the thread holding the interpreter; raw stacks in
`DIR/<engine>-<code>-<phase>*.txt`) and prints the top functions by own time and the product's
functions by time in and below them, imports left out; py-spy itself slows the processes, so
read the figures without it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, func, select, text

from sync_throughput import change_workflows, register
from zuora_workflow_sync.domain.models import RunStatus, RunTrigger
from zuora_workflow_sync.queue import open_queue
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin, TenantCredentials
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import SyncRunRow
from zuora_workflow_sync.sync.dispatch import Dispatcher, DispatchOptions
from zuora_workflow_sync.zuora.models import AccessToken, WorkflowExport, WorkflowPage
from zuora_workflow_sync.zuora.responses import parse_json
from zuora_workflow_sync.zuora.transport import TransportLimits, exchange, get, new_http_client

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
PROBE = HERE / "timeline"  # its sitecustomize holds the CPU probe
LINE = re.compile(r"(\S+)  (http://\S+)  client_id=(\S+)  client_secret=(\S+)")
ADMIN_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TICKS = os.sysconf("SC_CLK_TCK")
PHASES = ("full", "incremental")


@dataclass(frozen=True)
class Options:
    engines: tuple[str, ...]
    tenants: int
    workflows: int
    change_fraction: float
    workers: int
    concurrency: int
    repeat: int
    redis_url: str
    compare_ref: str | None
    profile: Path | None
    timeout: float


@dataclass(frozen=True)
class Phase:
    code: str
    engine: str
    name: str
    product_cpu_seconds: float
    simulator_cpu_seconds: float
    requests: int
    wall_seconds: float
    idle_cpu_seconds: float | None = None

    def per_request_ms(self, seconds: float) -> float:
        return 1000.0 * seconds / max(1, self.requests)


def parse_args() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres_redis", "both"], default="both")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--change-fraction", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (PostgreSQL)")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs per worker process")
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine (and code)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--compare-ref", metavar="GITREF", help="also run GITREF's product code")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy each product process")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per phase")
    args = parser.parse_args()
    engines = ("sqlite", "postgres_redis") if args.engine == "both" else (args.engine,)
    return Options(
        engines=engines,
        tenants=args.tenants,
        workflows=args.workflows,
        change_fraction=args.change_fraction,
        workers=args.workers,
        concurrency=args.concurrency,
        repeat=args.repeat,
        redis_url=args.redis_url,
        compare_ref=args.compare_ref,
        profile=args.profile,
        timeout=args.timeout,
    )


# -- processes and their CPU ---------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextmanager
def simulator(options: Options) -> Iterator[tuple[subprocess.Popen[str], SimulatorAdmin]]:
    """The simulator in its own process (this tree's code, no latency) and its admin client."""
    args = ["simulator", "--port", "0", "--tenants", str(options.tenants)]
    args += ["--workflows", str(options.workflows), "--seed", "7", "--latency-ms", "0"]
    process = subprocess.Popen(
        [str(BIN / "workflow-sync"), *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        base_url = ""
        for _ in range(options.tenants):
            line = process.stdout.readline()
            match = LINE.search(line)
            if not line or match is None:
                raise SystemExit("the simulator exited before listing its tenants")
            base_url = match.group(2)
        with SimulatorAdmin(base_url) as admin:
            admin.update_settings(token_ip_limit_enabled=False)
            yield process, admin
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def installation(engine: str, options: Options) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A fresh home and store (its own PostgreSQL database, its own queue name on Redis)."""
    with tempfile.TemporaryDirectory(prefix="zws-cpu-bench-") as home:
        values = {
            "ZWS_HOME": home,
            "ZWS_SECRET_KEYS": Keyring.generate_key(),
            "ZWS_STAGGER_MIN_SECONDS": "0",
            "ZWS_STAGGER_MAX_SECONDS": "0",
            "ZWS_LOG_LEVEL": "WARNING",
            "ZWS_WORKER_CONCURRENCY": str(options.concurrency),
            "ZWS_PACING_TOKEN_REQUESTS_PER_MINUTE": "100000",
        }
        database = queue = None
        admin = create_engine(ADMIN_POSTGRES, isolation_level="AUTOCOMMIT")
        if engine == "postgres_redis":
            database = f"zws_bench_cpu_{uuid.uuid4().hex[:10]}"
            queue = f"zws-bench-cpu-{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{database}"'))
            values["ZWS_DATABASE_URL"] = ADMIN_POSTGRES.rsplit("/", 1)[0] + "/" + database
            values["ZWS_QUEUE_URL"] = options.redis_url
            values["ZWS_DEFAULT_QUEUE"] = queue
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZWS_")}
        env.update(values)
        settings = Settings(
            **{k.removeprefix("ZWS_").lower(): v for k, v in values.items()}  # type: ignore[arg-type]
        )
        try:
            migrate.upgrade(settings.resolved_database_url)
            yield settings, env
        finally:
            if database is not None:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            if queue is not None:
                client = redis.Redis.from_url(options.redis_url)
                keys = list(client.scan_iter(match=f"*{queue}*"))
                if keys:
                    client.delete(*keys)
            admin.dispose()


def product_env(env: dict[str, str], src: Path | None) -> dict[str, str]:
    """The product processes' environment: the CPU probe, and `src`'s code when given."""
    paths = [str(src)] if src is not None else []
    paths += [str(PROBE), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def py_spy() -> str:
    found = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/uv pip install py-spy")
    return found


def spied(command: list[str], options: Options, label: str) -> list[str]:
    """`command` under py-spy (raw stacks to `label`.txt) when profiling."""
    if options.profile is None:
        return command
    options.profile.mkdir(parents=True, exist_ok=True)
    output = options.profile / f"{label}.txt"
    return [
        py_spy(),
        "record",
        "--gil",
        "-f",
        "raw",
        "-r",
        "200",
        "-o",
        str(output),
        "--",
        *command,
    ]


@contextmanager
def spying(pids: list[int], options: Options, label: str) -> Iterator[None]:
    """py-spy attached to running `pids` (raw stacks to `label`-N.txt) when profiling."""
    if options.profile is None:
        yield
        return
    options.profile.mkdir(parents=True, exist_ok=True)
    spies = [
        subprocess.Popen(
            [
                py_spy(),
                "record",
                "-f",
                "raw",
                "-r",
                "200",
                "-p",
                str(pid),
                "-o",
                str(options.profile / f"{label}-{number}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for number, pid in enumerate(pids)
    ]
    time.sleep(1.0)
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(30)


def profile_top(paths: list[Path], count: int = 25) -> list[str]:
    """The functions with the most samples of their own (and in all, below them), start-up
    (imports) left out, from py-spy's raw stacks."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, samples = line.rpartition(" ")
            # py-spy --gil: an empty stack is a moment no thread held the interpreter.
            if "_find_and_load" in stack or not stack.strip() or not samples.isdigit():
                continue
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            total += int(samples)
            own[frames[-1]] = own.get(frames[-1], 0) + int(samples)
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + int(samples)
    lines = [f"{total} samples; own %, in all %, function (by own time)"]
    for frame, count_ in sorted(own.items(), key=lambda item: -item[1])[:count]:
        share = 100.0 * count_ / max(1, total)
        lines.append(f"{share:5.1f} {100.0 * inclusive[frame] / max(1, total):6.1f}  {frame}")
    lines.append("in all %, function (by time in it and below, the product's own functions)")
    ours = [item for item in inclusive.items() if "zuora_workflow_sync" in item[0]]
    for frame, count_ in sorted(ours, key=lambda item: -item[1])[:count]:
        lines.append(f"{100.0 * count_ / max(1, total):5.1f}  {frame}")
    return lines


# -- the phases ----------------------------------------------------------------------------


def cli_phase(
    code: str,
    name: str,
    env: dict[str, str],
    src: Path | None,
    sim: subprocess.Popen[str],
    admin: SimulatorAdmin,
    options: Options,
) -> Phase:
    """`sync-workflows --sync --force [--full]` in a subprocess: CPU from its first request."""
    probe = Path(env["ZWS_HOME"]) / f"cpu-{name}.json"
    command = [str(BIN / "sync-workflows"), "--sync", "--force", "--json"]
    command += ["--full"] * (name == "full")
    command = spied(command, options, f"sqlite-{code}-{name}")
    admin.reset_stats()
    simulator_before, started = cpu_seconds(sim.pid), time.monotonic()
    done = subprocess.run(
        command,
        env={**product_env(env, src), "ZWS_BENCH_CPU": str(probe)},
        capture_output=True,
        text=True,
        timeout=options.timeout,
        check=False,
    )
    wall = time.monotonic() - started
    simulator_cpu = cpu_seconds(sim.pid) - simulator_before
    if done.returncode != 0:
        raise SystemExit(f"sync-workflows failed ({done.returncode}): {done.stderr[-600:]}")
    result, _ = json.JSONDecoder().raw_decode(done.stdout[done.stdout.index("{") :])  # py-spy's
    failed = [o for o in result["inline"] if o["status"] != "succeeded"]
    if failed:
        raise SystemExit(f"{len(failed)} runs did not succeed: {failed[0]}")
    measured = json.loads(probe.read_text())
    return Phase(
        code,
        "sqlite",
        name,
        measured["end"] - measured["first"],
        simulator_cpu,
        int(admin.stats()["totals"]["requests"]),
        wall,
    )


@contextmanager
def workers(
    env: dict[str, str], src: Path | None, options: Options, label: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    home = Path(env["ZWS_HOME"])
    processes = []
    for number in range(options.workers):
        command = [str(BIN / "workflow-sync"), "worker", "--concurrency", str(options.concurrency)]
        with open(home / f"worker-{number}.out", "wb") as out:
            processes.append(
                subprocess.Popen(
                    command, env=product_env(env, src), stdout=out, stderr=subprocess.STDOUT
                )
            )
    try:
        time.sleep(4.0)  # imports and queue connections, before any measure
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


def dispatch_and_wait(settings: Settings, *, full: bool, timeout: float) -> None:
    """Dispatch every customer (forced) and wait until no run is queued or running."""
    with build_runtime(settings, migrate=False) as runtime:
        queue = open_queue(settings.resolved_queue_url, settings.default_queue)
        try:
            with runtime.engine.connect() as conn:
                before = conn.execute(
                    select(func.coalesce(func.max(SyncRunRow.id), 0))
                ).scalar_one()
            deadline = time.monotonic() + timeout
            Dispatcher(runtime, queue, (Exception,), say=lambda _: None).dispatch(
                DispatchOptions(None, force=True, full=full, trigger=RunTrigger.COMMAND)
            )
            active = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
            ours = SyncRunRow.id > before
            while True:
                with runtime.engine.connect() as conn:
                    left = conn.execute(
                        select(func.count()).where(ours, SyncRunRow.status.in_(active))
                    ).scalar_one()
                    if left == 0:
                        failed = conn.execute(
                            select(func.count()).where(
                                ours, SyncRunRow.status != RunStatus.SUCCEEDED.value
                            )
                        ).scalar_one()
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{left} runs still active after {timeout} s")
                time.sleep(0.05)
            if failed:
                raise SystemExit(f"{failed} runs did not succeed")
        finally:
            queue.close()


def worker_phase(
    code: str,
    name: str,
    settings: Settings,
    pids: list[int],
    idle_rate: float,
    sim: subprocess.Popen[str],
    admin: SimulatorAdmin,
    options: Options,
) -> Phase:
    admin.reset_stats()
    simulator_before = cpu_seconds(sim.pid)
    before, started = sum(cpu_seconds(pid) for pid in pids), time.monotonic()
    dispatch_and_wait(settings, full=name == "full", timeout=options.timeout)
    wall = time.monotonic() - started
    product_cpu = sum(cpu_seconds(pid) for pid in pids) - before
    return Phase(
        code,
        "postgres_redis",
        name,
        product_cpu,
        cpu_seconds(sim.pid) - simulator_before,
        int(admin.stats()["totals"]["requests"]),
        wall,
        idle_rate * wall,
    )


def settled_idle_rate(pids: list[int], limit_seconds: float = 40.0) -> float:
    """Wait until the workers are done starting (their CPU over 2 s below 2 % each, or
    `limit_seconds`), and return their idle CPU seconds per second."""
    deadline = time.monotonic() + limit_seconds
    while True:
        before, started = sum(cpu_seconds(pid) for pid in pids), time.monotonic()
        time.sleep(2.0)
        rate = (sum(cpu_seconds(pid) for pid in pids) - before) / (time.monotonic() - started)
        if rate < 0.02 * len(pids) or time.monotonic() > deadline:
            return rate


def run_engine(engine: str, code: str, src: Path | None, options: Options) -> list[Phase]:
    with simulator(options) as (sim, admin), installation(engine, options) as (settings, env):
        register(settings, admin)
        phases: list[Phase] = []
        if engine == "sqlite":
            for name in PHASES:
                if name == "incremental":
                    change_workflows(admin, options.change_fraction)
                phases.append(cli_phase(code, name, env, src, sim, admin, options))
            return phases
        with workers(env, src, options, f"postgres_redis-{code}") as processes:
            pids = [process.pid for process in processes]
            idle_rate = settled_idle_rate(pids)
            for name in PHASES:
                if name == "incremental":
                    change_workflows(admin, options.change_fraction)
                with spying(pids, options, f"postgres_redis-{code}-{name}"):
                    phase = worker_phase(code, name, settings, pids, idle_rate, sim, admin, options)
                phases.append(phase)
        return phases


def bare_phase(options: Options) -> Phase:
    """The same requests as a full sync (a token, a listing page, the exports 4 at a time per
    customer, the customers one after another), by this process through the product's HTTP
    pool, strict JSON parsing and models, with no pacing, token cache, store or queue: what a
    request costs the client's own layers on this machine."""
    with simulator(options) as (sim, admin):
        views = admin.tenants()
        admin.reset_stats()
        simulator_before, wall_before = cpu_seconds(sim.pid), time.monotonic()
        before = time.process_time()
        asyncio.run(_bare_requests(views))
        product_cpu = time.process_time() - before
        return Phase(
            "bare",
            "none",
            "full",
            product_cpu,
            cpu_seconds(sim.pid) - simulator_before,
            int(admin.stats()["totals"]["requests"]),
            time.monotonic() - wall_before,
        )


async def _bare_requests(views: list[dict[str, Any]]) -> None:
    limits = TransportLimits()
    async with new_http_client(limits, max_connections=8) as http:
        for view in views:
            await _bare_customer(http, view, limits)


async def _bare_customer(http: Any, view: dict[str, Any], limits: TransportLimits) -> None:
    credentials = TenantCredentials.from_view(view)
    form = {
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "grant_type": "client_credentials",
    }
    token_request = http.build_request("POST", f"{credentials.base_url}/oauth/token", data=form)
    raw = await exchange(http, token_request, limits)
    token = AccessToken.model_validate(parse_json(raw.body, status=200, request_id=None))
    headers = {
        "Accept": "application/json",
        "Accept-Encoding": "gzip",
        "Authorization": f"Bearer {token.access_token.get_secret_value()}",
    }
    if view["multi_entity"]:
        headers["Zuora-Entity-Ids"] = credentials.entity_ids[0]
    url = credentials.base_url + "/workflows"
    raw = await get(http, url, {"page": "1", "page_length": "50"}, headers, limits)
    page = WorkflowPage.model_validate(parse_json(raw.body, status=200, request_id=None))
    gate = asyncio.Semaphore(4)

    async def export(workflow_id: int) -> None:
        async with gate:
            raw = await get(http, f"{url}/{workflow_id}/export", None, headers, limits)
        WorkflowExport.model_validate(parse_json(raw.body, status=200, request_id=None))

    await asyncio.gather(*(export(item.id) for item in page.data))


@contextmanager
def reference_tree(ref: str | None) -> Iterator[Path | None]:
    """GITREF checked out in a temporary worktree (its `src`), or None."""
    if ref is None:
        yield None
        return
    where = Path(tempfile.mkdtemp(prefix="zws-cpu-ref-"))
    repo = str(HERE.parent)
    subprocess.run(["git", "-C", repo, "worktree", "add", "--detach", str(where), ref],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield where / "src"
    finally:
        subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", str(where)],
                       check=False, capture_output=True)  # fmt: skip


def report(phases: list[Phase]) -> None:
    print(
        "code      engine          phase        requests  product ms/req  simulator ms/req"
        "  product CPU s  wall s  idle CPU s"
    )
    for phase in phases:
        idle = "" if phase.idle_cpu_seconds is None else f"{phase.idle_cpu_seconds:10.2f}"
        print(
            f"{phase.code:<9} {phase.engine:<15} {phase.name:<12} {phase.requests:8d}  "
            f"{phase.per_request_ms(phase.product_cpu_seconds):14.2f}  "
            f"{phase.per_request_ms(phase.simulator_cpu_seconds):16.2f}  "
            f"{phase.product_cpu_seconds:13.2f}  {phase.wall_seconds:6.2f}  {idle}"
        )


def main() -> None:
    options = parse_args()
    print(
        f"{options.tenants} tenants x {options.workflows} workflows, no latency; incremental "
        f"with {options.change_fraction:.0%} changed; PostgreSQL + Redis: {options.workers} "
        f"workers x {options.concurrency} jobs",
        flush=True,
    )
    phases: list[Phase] = []
    with reference_tree(options.compare_ref) as ref_src:
        codes: list[tuple[str, Path | None]] = [("this", None)]
        if ref_src is not None:
            codes.insert(0, (str(options.compare_ref)[:9], ref_src))
        for _ in range(options.repeat):
            bare = bare_phase(options)
            report([bare])
            phases.append(bare)
            for engine in options.engines:
                for code, src in codes:
                    done = run_engine(engine, code, src, options)
                    report(done)
                    phases += done
    print("\nall runs:")
    report(sorted(phases, key=lambda p: (p.engine, p.name, p.code)))
    if options.profile is not None:
        for label in sorted({f"{p.engine}-{p.code}-{p.name}" for p in phases}):
            print(f"\nprofile {label} (own time; figures above include py-spy's cost)")
            print("\n".join(profile_top(sorted(options.profile.glob(f"{label}*.txt")))))


if __name__ == "__main__":
    main()
