"""Recovery times: how long after a fault the affected runs have succeeded again.

Real processes on PostgreSQL + Redis: `workflow-sync worker` processes and a real `workflow-sync
scheduler` (it runs the reaper every ZWS_REAPER_INTERVAL_SECONDS), the Zuora simulator in this
process, a private PostgreSQL cluster and a private redis-server (no persistence) on free loopback
ports, started for this run and deleted after it (the machine's own servers are never touched);
a fresh database and an emptied Redis per measurement. The scenarios:

  worker     `kill -9` of a worker mid-sync: until that run succeeded (an idle worker retries it)
  redis      Redis killed and restarted empty while 20 runs are queued: until all succeeded
  postgres   `pg_ctl restart -m immediate` while 30 runs sync: until a run succeeds again, and
             until all succeeded
  scheduler  `kill -9` of the scheduler holding the lease, another standing by: until it holds it

A time runs from the fault to a timestamp the database wrote (a run's `finished_at`, the lease's
`acquired_at`; same host, same clock), so polling adds nothing. The worker and scheduler
scenarios run at the default settings (a run lease of 30 s renewed every 10 s, the reaper every
10 s, the scheduler lease 30 s); the Redis and PostgreSQL ones shorten the run lease to 10 s and
the stale-queued grace to 5 s (its default, 300 s, would make one measurement last minutes). The
table gives the median and the largest time, what bounds it, and that bound at the defaults.

    .venv/bin/python benchmarks/recovery.py                                 # each scenario once
    .venv/bin/python benchmarks/recovery.py --scenarios worker --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

import repo_path  # noqa: F401  (the repository on sys.path: the tests' helpers below)
from tests.chaos.servers import PrivatePostgres, PrivateRedis
from tests.polling import wait_until
from zuora_workflow_sync.domain.models import RunStatus, SyncRun
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import (
    SimulatorAdmin,
    SimulatorConfig,
    SimulatorServer,
    TenantCredentials,
)
from zuora_workflow_sync.store.leases import Lease, LeaseRepository
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.sync.schedule import SCHEDULER_LEASE

BIN = Path(sys.executable).parent
START_SECONDS = 30.0
SEEDED_TENANT = "tenant-001"
# Short enough to measure, for the scenarios that wait for a stale-queued grace.
SHORT = {
    "lease_seconds": "10",
    "reaper_interval_seconds": "2",
    "stale_queued_grace_seconds": "5",
    "worker_grace_seconds": "3",
}
SHORT_TEXT = "lease 10 s (renewed every 3.3 s), reaper interval 2 s, stale-queued grace 5 s"
DEFAULTS_TEXT = "the defaults: lease 30 s renewed every 10 s, reaper interval 10 s"
FINISHED_BADLY = (RunStatus.FAILED, RunStatus.ABANDONED)


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class Servers:
    postgres: PrivatePostgres
    redis: PrivateRedis
    admin: SimulatorAdmin
    folder: Path


# -- one installation run by real processes ---------------------------------------------------


@dataclass
class Installation:
    """A fresh database and an emptied Redis; the processes a scenario starts; a runtime to
    inspect the ledger."""

    servers: Servers
    home: Path
    env: dict[str, str]
    runtime: Runtime
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def create(cls, servers: Servers, home: Path, settings: dict[str, str]) -> Installation:
        home.mkdir(parents=True)
        servers.admin.reset()
        servers.redis.flush()
        key = Keyring.generate_key()
        database_url = servers.postgres.create_database()
        values: dict[str, Any] = {
            "home": str(home),
            "secret_keys": key,
            "database_url": database_url,
            "queue_url": servers.redis.url(),
            **settings,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZWS_")}
        env.update({f"ZWS_{name.upper()}": str(value) for name, value in values.items()})
        values["secret_keys"] = SecretStr(key)
        return cls(servers, home, env, build_runtime(Settings(**values)))

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        env = {**self.env, "ZWS_LOG_FILE": str(self.home / f"{name}.log")}
        with open(self.home / f"{name}.out", "wb") as out:
            process = subprocess.Popen(
                [str(BIN / "workflow-sync"), *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes[name] = process
        return process

    def start_workers(self, count: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
        args = ("worker", "--concurrency", str(concurrency))
        return [self.start(f"worker-{n}", *args) for n in range(count)]

    def start_scheduler(self, name: str = "scheduler-a") -> subprocess.Popen[bytes]:
        """Start a scheduler and wait until it holds the lease and dispatched the pending cron
        tick: call before adding customers, so that tick dispatches nobody."""
        process = self.start(name, "scheduler")
        leases = LeaseRepository(self.runtime.engine)

        def tick_done() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.output(name).strip()[-300:]}")
            lease = leases.get(SCHEDULER_LEASE)
            return lease is not None and lease.tick_finished_at is not None

        wait_until(tick_done, timeout=START_SECONDS, what=f"{name} to take its first tick")
        return process

    def output(self, name: str) -> str:
        return (self.home / f"{name}.out").read_text(encoding="utf-8", errors="replace")

    def dispatch(self, *args: str) -> None:
        """`sync-workflows ARGS`, to its end."""
        done = subprocess.run(
            [str(BIN / "sync-workflows"), *args],
            env={**self.env, "ZWS_LOG_FILE": str(self.home / "zws.log")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"sync-workflows failed: {done.stderr.strip()[-300:]}")

    def add_customer(self, view: dict[str, Any]) -> int:
        credentials = TenantCredentials.from_view(view)
        customer = self.runtime.customers.add(
            f"Customer of {credentials.name}",
            zuora_base_url=credentials.base_url,
            client_id=credentials.client_id,
            client_secret_encrypted=self.runtime.keyring.encrypt(
                SecretStr(credentials.client_secret)
            ),
            entity_id=credentials.entity_ids[0] if view["multi_entity"] else None,
        )
        return customer.id

    def add_tenants(self, count: int, workflows: int) -> None:
        for _ in range(count):
            self.add_customer(self.servers.admin.create_tenant(workflows=workflows))

    def runs(self) -> list[SyncRun]:
        return self.runtime.ledger.list_runs(limit=100_000)

    def runs_none_failed(self) -> list[SyncRun]:
        """The ledger; RuntimeError as soon as a run ended other than succeeded."""
        runs = self.runs()
        bad = [run for run in runs if run.status in FINISHED_BADLY]
        if bad:
            raise RuntimeError(f"run {bad[0].id} {bad[0].status.value}: {bad[0].error_message}")
        return runs

    def all_succeeded(self, expected: int) -> bool:
        """True once `expected` runs succeeded; RuntimeError as soon as one ended otherwise."""
        runs = self.runs_none_failed()
        return len(runs) == expected and all(r.status is RunStatus.SUCCEEDED for r in runs)

    def reaper_note(self) -> str:
        """How many runs the reaper re-enqueued, by reason, from the schedulers' JSON logs."""
        lines = [
            json.loads(line)
            for path in self.home.glob("scheduler-*.log")
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("{")
        ]
        requeued = [entry["message"] for entry in lines if entry.get("event") == "run_requeued"]
        lost_worker = sum("lease expired" in message for message in requeued)
        return (
            f"reaper: {lost_worker} re-enqueued after a lost worker, "
            f"{len(requeued) - lost_worker} after a lost job"
        )

    def close(self) -> None:
        """SIGTERM every process (SIGKILL after 15 s), then close the runtime."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(15)
        self.runtime.close()


def since(fault_at: datetime, moment: datetime | None) -> float:
    assert moment is not None
    return (moment - fault_at).total_seconds()


def last_finished(runs: list[SyncRun]) -> datetime:
    return max(run.finished_at for run in runs if run.finished_at is not None)


# -- the scenarios: each returns {figure: seconds after the fault} -----------------------------


def kill_worker(inst: Installation) -> dict[str, float]:
    """A worker hangs on a slow-drip export of the seeded tenant (the others fetched, held in
    memory, not committed); it is killed; the run succeeds on the idle worker."""
    admin = inst.servers.admin
    inst.start_scheduler()
    customer = inst.add_customer(admin.tenant(SEEDED_TENANT))
    sixth = admin.workflows(SEEDED_TENANT)[5]["id"]
    drip = {"count": 1, "chunk_bytes": 1, "interval_ms": 200}
    admin.add_fault("drip", tenant=SEEDED_TENANT, route="export", workflow_id=sixth, **drip)
    workers = inst.start_workers(2, concurrency=1)
    inst.dispatch(str(customer))

    def exports_served() -> int:
        tenant = admin.stats()["tenants"].get(SEEDED_TENANT, {})
        return sum(tenant.get("requests", {}).get("export", {}).values())

    wait_until(lambda: exports_served() >= 5, timeout=60, what="five exports")
    time.sleep(0.3)  # into the drip of the sixth
    (run,) = inst.runs()
    assert run.status is RunStatus.RUNNING and run.lease_owner is not None, run
    (victim,) = [w for w in workers if f":{w.pid}:" in str(run.lease_owner)]
    fault_at = now_utc()
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    admin.clear_faults()
    timeout = inst.runtime.settings.lease_seconds + 60
    wait_until(lambda: inst.all_succeeded(1), timeout=timeout, what="the run to succeed")
    (done,) = inst.runs()
    assert done.attempt == 2, done
    return {
        "lease expired": since(fault_at, run.lease_expires_at),
        "run succeeded": since(fault_at, done.finished_at),
    }


def lose_redis(inst: Installation) -> dict[str, float]:
    """20 runs dispatched with a 3-5 s stagger (their jobs wait in Redis); Redis is killed and
    restarted empty at once; the reaper finds them queued past the grace and re-enqueues them."""
    inst.start_scheduler()
    inst.add_tenants(20, 2)
    inst.start_workers(2, concurrency=2)
    time.sleep(2.0)  # the workers are up and listening
    inst.dispatch()
    due_at = max(run.not_before_at for run in inst.runs())
    fault_at = now_utc()
    inst.servers.redis.kill()
    inst.servers.redis.start()
    wait_until(lambda: inst.all_succeeded(20), timeout=120, what="all 20 runs to succeed")
    runs = inst.runs()
    return {
        "last run due": since(fault_at, due_at),
        # The reaper sets a re-enqueued run's `not_before_at` to the time it re-enqueued it.
        "last re-enqueued": since(fault_at, max(run.not_before_at for run in runs)),
        "all succeeded": since(fault_at, last_finished(runs)),
    }


def restart_postgres(inst: Installation) -> dict[str, float]:
    """30 runs (4 workflows each, 30 ms per Zuora call, 0-4 s stagger) on 3 workers of 2; once
    some succeeded and others run, PostgreSQL is restarted (immediate mode)."""
    inst.servers.admin.update_settings(latency_ms=30)
    inst.start_scheduler()
    inst.add_tenants(30, 4)
    inst.start_workers(3, concurrency=2)
    inst.dispatch()

    leases: list[datetime] = []  # of the runs in flight at the restart

    def mid_load() -> bool:
        runs = inst.runs_none_failed()
        running = [r for r in runs if r.status is RunStatus.RUNNING]
        leases[:] = [r.lease_expires_at for r in running if r.lease_expires_at is not None]
        succeeded = [r for r in runs if r.status is RunStatus.SUCCEEDED]
        return len(succeeded) >= 6 and bool(leases)

    wait_until(mid_load, timeout=60, what="runs succeeded and others in flight")
    fault_at = now_utc()
    inst.servers.postgres.restart_immediately()
    back_at = now_utc()
    wait_until(lambda: inst.all_succeeded(30), timeout=150, what="all 30 runs to succeed")
    runs = inst.runs()
    after = [r.finished_at for r in runs if r.finished_at is not None and r.finished_at > back_at]
    return {
        "database back": since(fault_at, back_at),
        "a run succeeded again": since(fault_at, min(after)),
        "leases of runs in flight expired by": since(fault_at, max(leases)),
        "all succeeded": since(fault_at, last_finished(runs)),
    }


def kill_scheduler(inst: Installation) -> dict[str, float]:
    """Scheduler A holds the lease, B stands by; A is killed (at a random moment of its renewal
    cycle); B takes the lease at its first attempt after the lease expired."""
    leases = LeaseRepository(inst.runtime.engine)
    holder = inst.start_scheduler("scheduler-a")
    owner = _holder(leases).owner
    inst.start("scheduler-b", "scheduler")
    wait_until(
        lambda: "Standing by" in inst.output("scheduler-b"), timeout=START_SECONDS, what="standby"
    )
    # Both renew or retry every third of the lease: a random kill time samples every phase.
    time.sleep(random.uniform(0, inst.runtime.settings.scheduler_lease_seconds / 3))
    fault_at = now_utc()
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    expired_at = _holder(leases).expires_at  # no renewal after the kill
    wait_until(
        lambda: _holder(leases, none_ok=True).owner not in (owner, ""),
        timeout=inst.runtime.settings.scheduler_lease_seconds * 2 + 10,
        what="the standby to take the lease",
    )
    wait_until(
        lambda: "Holding the scheduler lease" in inst.output("scheduler-b"),
        timeout=10,
        what="the standby to say it holds the lease",
    )
    return {
        "lease expired": since(fault_at, expired_at),
        "standby holds the lease": since(fault_at, _holder(leases).acquired_at),
    }


def _holder(leases: LeaseRepository, *, none_ok: bool = False) -> Lease:
    lease = leases.get(SCHEDULER_LEASE)
    if lease is None and none_ok:
        return Lease(SCHEDULER_LEASE, "", now_utc(), now_utc(), None, None)
    assert lease is not None
    return lease


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: str
    measure: Callable[[Installation], dict[str, float]]
    settings: dict[str, str]
    settings_text: str
    bound: str


SCENARIOS = [
    Scenario(
        "worker",
        "kill -9 of a worker mid-sync",
        kill_worker,
        {},
        DEFAULTS_TEXT,
        "lease left at the kill (20-30 s: renewed every 10 s) + reaper interval + one sync: "
        "<= 30 + 10 + sync at the defaults",
    ),
    Scenario(
        "redis",
        "Redis restarted empty, 20 runs queued",
        lose_redis,
        {**SHORT, "stagger_min_seconds": "3", "stagger_max_seconds": "5"},
        f"{SHORT_TEXT}, stagger 3-5 s, 2 workers x 2",
        "until the runs are due + stale-queued grace + reaper interval + draining: "
        "<= 5 + 5 + 2 + drain here; <= 60 + 300 + 10 + drain at the defaults",
    ),
    Scenario(
        "postgres",
        "PostgreSQL restarted (immediate) during syncs",
        restart_postgres,
        {
            **SHORT,
            "export_concurrency": "1",
            "stagger_min_seconds": "0",
            "stagger_max_seconds": "4",
        },
        f"{SHORT_TEXT}, 30 runs, 3 workers x 2",
        "again: the restart, then the next claim; all: runs cut mid-sync wait for their lease: "
        "<= lease + reaper interval + syncs: <= 10 + 2 + syncs here; <= 30 + 10 + syncs at the "
        "defaults",
    ),
    Scenario(
        "scheduler",
        "kill -9 of the scheduler holding the lease",
        kill_scheduler,
        {},
        "scheduler lease 30 s (the default), one standby",
        "between 2/3 and 4/3 of ZWS_SCHEDULER_LEASE_SECONDS (the holder renews and the standby "
        "retries every third of it): 20-40 s at the default 30 s",
    ),
]


def measure(scenario: Scenario, servers: Servers, home: Path) -> tuple[dict[str, float], str]:
    """The scenario's figures, and what the reaper did (from the schedulers' logs)."""
    inst = Installation.create(servers, home, scenario.settings)
    try:
        return scenario.measure(inst), inst.reaper_note()
    finally:
        inst.close()


def print_table(results: dict[str, list[dict[str, float]]]) -> None:
    print("| scenario | settings | measured (s after the fault): median / max | bound |")
    print("|---|---|---|---|")
    for scenario in SCENARIOS:
        repeats = results.get(scenario.name)
        if not repeats:
            continue
        figures = "; ".join(
            f"{name}: {statistics.median(values):.1f} / {max(values):.1f}"
            for name in repeats[0]
            for values in [[repeat[name] for repeat in repeats]]
        )
        print(
            f"| {scenario.fault} | {scenario.settings_text} | {figures} (n={len(repeats)}) "
            f"| {scenario.bound} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [scenario.name for scenario in SCENARIOS]
    parser.add_argument("--scenarios", default=",".join(names), help="comma-separated subset")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if s.name in args.scenarios.split(",")]
    if not chosen or len(chosen) != len(set(args.scenarios.split(","))):
        parser.error(f"--scenarios: a comma-separated subset of {', '.join(names)}")
    folder = Path(tempfile.mkdtemp(prefix="zws-recovery-"))
    postgres = PrivatePostgres()
    private_redis = PrivateRedis(folder / "redis")
    config = SimulatorConfig(tenants=4, workflows=12, seed=20240601)
    results: dict[str, list[dict[str, float]]] = {}
    failed = False
    try:
        postgres.start()
        private_redis.start()
        with SimulatorServer(config) as simulator, SimulatorAdmin(simulator.base_url) as admin:
            servers = Servers(postgres, private_redis, admin, folder)
            for scenario in chosen:
                for attempt in range(args.repeat):
                    home = folder / f"{scenario.name}-{attempt}"
                    try:
                        figures, note = measure(scenario, servers, home)
                    except Exception as exc:  # reported; the other measurements go on
                        failed = True
                        print(f"{scenario.name} #{attempt + 1}: FAILED: {exc}")
                        continue
                    shown = ", ".join(f"{name} {value:.1f} s" for name, value in figures.items())
                    print(f"{scenario.name} #{attempt + 1}: {shown} ({note})", flush=True)
                    results.setdefault(scenario.name, []).append(figures)
    finally:
        private_redis.kill()
        postgres.stop()
        if failed or args.keep:
            print(f"logs: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print()
    print_table(results)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
