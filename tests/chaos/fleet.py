"""`Fleet`: one installation run by real `workflow-sync` and `sync-workflows` processes, with a
runtime in the test's process to inspect it; bounded waits; the reaper, when this build has one.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from tests.backends import Backend
from tests.polling import wait_until
from zuora_workflow_sync.domain.models import RunStatus, SyncRun
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.simulator import SimulatorAdmin, TenantCredentials
from zuora_workflow_sync.store.tables import WorkflowHistoryRow, WorkflowRow, WorkflowTaskRow

BIN = Path(sys.executable).parent
STOP_SECONDS = 15.0
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass
class Fleet:
    """One installation driven by real processes; `runtime` inspects it from this process."""

    home: Path
    env: dict[str, str]
    runtime: Runtime
    admin: SimulatorAdmin
    backend: Backend
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(
        self, command: str, *args: str, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to its end (its log goes to the shared zws.log)."""
        return subprocess.run(
            [str(BIN / command), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, name: str, command: str, *args: str) -> subprocess.Popen[bytes]:
        """Start a long-running command: output to `<name>.out`, log lines to `<name>.log`."""
        env = {**self.env, "ZWS_LOG_FILE": str(self.home / f"{name}.log")}
        with open(self.home / f"{name}.out", "wb") as out:
            process = subprocess.Popen(
                [str(BIN / command), *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes[name] = process
        return process

    def start_workers(self, count: int, *args: str) -> list[subprocess.Popen[bytes]]:
        return [self.start(f"worker-{n}", "workflow-sync", "worker", *args) for n in range(count)]

    def output(self, name: str) -> str:
        return (self.home / f"{name}.out").read_text(encoding="utf-8", errors="replace")

    def log(self, name: str = "zws") -> list[dict[str, Any]]:
        """The JSON log lines of process `name` (`zws`: the commands run with `run`)."""
        path = self.home / f"{name}.log"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self, *names: str, timeout: float = STOP_SECONDS) -> list[int]:
        """Stop processes gracefully, all at once (SIGCONT first, in case one is paused), then
        SIGKILL what is left after `timeout`: their exit codes."""
        processes = [self.processes[name] for name in names]
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in processes:
            try:
                process.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                process.kill()
        return [process.wait(STOP_SECONDS) for process in processes]

    def wait_exited(self, names: list[str], timeout: float) -> dict[str, int]:
        """Exit codes of `names`, once every one ended by itself within `timeout`."""
        try:
            wait_until(
                lambda: all(self.processes[n].poll() is not None for n in names),
                timeout=timeout,
                what=f"{', '.join(names)} to exit",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; runs by status: {self.run_statuses()}") from None
        return {name: self.processes[name].wait() for name in names}

    def run_statuses(self) -> dict[str, int]:
        """How many runs the ledger holds in each status (for failure messages)."""
        counts: dict[str, int] = {}
        for run in self.runs():
            counts[run.status.value] = counts.get(run.status.value, 0) + 1
        return counts

    def close(self) -> None:
        try:
            self.stop(*self.processes)
        finally:
            self.runtime.close()

    def take_schedule_tick(self) -> None:
        """Let one scheduler pass take the pending cron tick while there is no customer yet.

        Reaper passes (`scheduler --once`) would otherwise also dispatch that tick, racing the
        test's own dispatch: the scheduled dispatch is not what these tests are about.
        """
        assert self.runtime.customers.list() == [], "call before adding customers"
        done = self.run("workflow-sync", "scheduler", "--once")
        assert done.returncode == 0, done.stderr

    def add_tenants(self, count: int, workflows: int) -> dict[int, str]:
        """Create `count` simulator tenants and register each as a customer: {customer: tenant}."""
        added: dict[int, str] = {}
        for _ in range(count):
            view = self.admin.create_tenant(workflows=workflows)
            added[self.add_customer(TenantCredentials.from_view(view), view["multi_entity"])] = (
                view["name"]
            )
        return added

    def add_customer(
        self, credentials: TenantCredentials, multi_entity: bool, name: str | None = None
    ) -> int:
        customer = self.runtime.customers.add(
            name or f"Customer of {credentials.name}",
            zuora_base_url=credentials.base_url,
            client_id=credentials.client_id,
            client_secret_encrypted=self.runtime.keyring.encrypt(
                SecretStr(credentials.client_secret)
            ),
            entity_id=credentials.entity_ids[0] if multi_entity else None,
        )
        return customer.id

    def add_seeded(self, tenant: str) -> int:
        """Register one of the simulator's seeded tenants as a customer."""
        view = self.admin.tenant(tenant)
        return self.add_customer(TenantCredentials.from_view(view), view["multi_entity"])

    def served(self, tenant: str, route: str) -> int:
        """Requests of `route` the simulator answered for `tenant` (counted when complete)."""
        tenants = self.admin.stats()["tenants"]
        by_status: dict[str, int] = tenants.get(tenant, {}).get("requests", {}).get(route, {})
        return sum(by_status.values())

    def run_status(self, run_id: int) -> RunStatus | None:
        run = self.runtime.ledger.get(run_id)
        return None if run is None else run.status

    def runs(self) -> list[SyncRun]:
        return self.runtime.ledger.list_runs(limit=100_000)

    def workflow_counts(self) -> dict[int, int]:
        """Stored workflow rows per customer."""
        with self.runtime.engine.connect() as conn:
            rows = conn.execute(
                select(WorkflowRow.customer_id, func.count()).group_by(WorkflowRow.customer_id)
            ).all()
        return {row[0]: row[1] for row in rows}

    def row_totals(self) -> tuple[int, int, int]:
        """Rows of workflows, their history and their tasks."""
        with self.runtime.engine.connect() as conn:
            return (
                _count(conn, WorkflowRow),
                _count(conn, WorkflowHistoryRow),
                _count(conn, WorkflowTaskRow),
            )

    def expected_tasks(self) -> int:
        """Task rows the stored documents call for (each document lists its tasks)."""
        with self.runtime.engine.connect() as conn:
            documents = conn.execute(select(WorkflowRow.document)).scalars().all()
        return sum(len(document["tasks"]) for document in documents)


# The `make_fleet` fixture: `make_fleet(backend, **settings)` (see tests/chaos/conftest.py).
FleetFactory = Callable[..., Fleet]


def _count(conn: Any, table: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


SEEDED_TENANT = "tenant-001"
# The tests that lose a worker mid-sync run at the default settings but for this: one export at
# a time, so that the sync is known to be five exports in when it hangs on the sixth.
ONE_EXPORT = {"export_concurrency": "1"}


def sync_in_flight(fleet: Fleet, worker: str = "worker-0") -> tuple[int, subprocess.Popen[bytes]]:
    """Dispatch the customer of SEEDED_TENANT and start a worker (one export at a time, see
    ONE_EXPORT) that fetches five exports, then hangs on a slow-drip sixth: its run id and
    process, once the run is mid-flight."""
    customer = fleet.add_seeded(SEEDED_TENANT)
    sixth = fleet.admin.workflows(SEEDED_TENANT)[5]["id"]
    fleet.admin.add_fault(
        "drip",
        tenant=SEEDED_TENANT,
        route="export",
        workflow_id=sixth,
        count=1,
        chunk_bytes=1,
        interval_ms=200,
    )
    process = fleet.start(worker, "workflow-sync", "worker", "--concurrency", "1")
    dispatched = fleet.run("sync-workflows", str(customer))
    assert dispatched.returncode == 0, dispatched.stderr
    (run,) = fleet.runtime.ledger.list_runs(customer_id=customer)
    wait_until(lambda: fleet.served(SEEDED_TENANT, "export") >= 5, timeout=30, what="five exports")
    time.sleep(0.3)  # well into the drip of the sixth
    assert fleet.run_status(run.id) is RunStatus.RUNNING
    return run.id, process


def settle(fleet: Fleet, *, timeout: float) -> None:
    """Wait until no run is queued or running. Whenever the ledger shows lost work (an expired
    lease, or a run due for longer than ZWS_STALE_QUEUED_GRACE_SECONDS), run one reaper pass
    (`workflow-sync scheduler --once`); without a reaper, lost work makes the rest of the test
    an expected failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            waiting = [run.id for run in fleet.runs() if run.status in ACTIVE]
            lost = bool(waiting) and lost_work(fleet)
        except OperationalError:  # the database is being restarted
            waiting, lost = [-1], False
        if not waiting:
            return
        assert time.monotonic() < deadline, f"runs {waiting} still active after {timeout:g} s"
        if lost:
            fleet.run("workflow-sync", "scheduler", "--once")
        time.sleep(0.2)


def lost_work(fleet: Fleet) -> bool:
    """What a reaper pass would act on: an expired lease, or a queued run overdue."""
    ledger = fleet.runtime.ledger
    grace = fleet.runtime.settings.stale_queued_grace_seconds
    return bool(ledger.find_expired_leases(limit=1) or ledger.find_stale_queued(grace, limit=1))
