"""Real processes on one SQLite home: schedulers that race and die, a reaper a worker follows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.polling import wait_until
from tests.store.factories import add_customer
from zuora_workflow_sync.domain.models import Customer, RunStatus, RunTrigger
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.leases import LeaseRepository
from zuora_workflow_sync.sync.schedule import SCHEDULER_LEASE

from .conftest import TEST_KEY, claim, expire_run_lease, make_settings, record_runs

BIN = Path(sys.executable).parent
WAIT_SECONDS = 20.0


@dataclass
class Home:
    """One installation in tmp_path: its environment, a runtime to inspect it, its processes."""

    path: Path
    env: dict[str, str]
    runtime: Runtime
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "workflow-sync"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str) -> tuple[subprocess.Popen[str], Path]:
        """Start `workflow-sync ARGS`; its stdout goes to a file read with `output`."""
        out = self.path / f"out-{len(self.started)}.txt"
        with out.open("w") as stdout:
            process = subprocess.Popen(
                [str(BIN / "workflow-sync"), *args],
                env=self.env,
                stdout=stdout,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        self.started.append(process)
        return process, out

    def add_sim_customer(self, admin: SimulatorAdmin, tenant: str) -> Customer:
        credentials = admin.credentials(tenant)
        multi = bool(admin.tenant(tenant)["multi_entity"])
        return self.runtime.customers.add(
            f"Customer of {tenant}",
            zuora_base_url=credentials.base_url,
            client_id=credentials.client_id,
            client_secret_encrypted=self.runtime.keyring.encrypt(
                SecretStr(credentials.client_secret)
            ),
            entity_id=credentials.entity_ids[0] if multi else None,
        )


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZWS_")}
    env.update(
        {
            "ZWS_HOME": str(tmp_path),
            "ZWS_SECRET_KEYS": TEST_KEY,
            "ZWS_STAGGER_MIN_SECONDS": "0",
            "ZWS_STAGGER_MAX_SECONDS": "0",
            "ZWS_SCHEDULER_LEASE_SECONDS": "2",
            "ZWS_HTTP_MAX_ATTEMPTS": "2",
            "ZWS_HTTP_BACKOFF_BASE_SECONDS": "0.01",
            "ZWS_HTTP_BACKOFF_CAP_SECONDS": "0.05",
        }
    )
    with build_runtime(make_settings(tmp_path)) as runtime:
        installation = Home(tmp_path, env, runtime)
        yield installation
        for process in installation.started:
            if process.poll() is None:
                process.kill()
            process.wait(WAIT_SECONDS)


def wait_for(condition: Callable[[], bool], what: str) -> None:
    wait_until(condition, timeout=WAIT_SECONDS, what=what)


def says(out: Path, text: str) -> Callable[[], bool]:
    return lambda: text in out.read_text()


def test_one_scheduler_dispatches_a_tick_when_two_run_and_the_holder_is_killed(
    home: Home,
) -> None:
    engine = home.runtime.engine
    ids = {add_customer(engine, name=f"c{i}").id for i in range(3)}
    leases = LeaseRepository(engine)

    first, first_out = home.start("scheduler")
    wait_for(lambda: len(home.runtime.ledger.list_runs()) == 3, "the first dispatch")
    second, second_out = home.start("scheduler")
    wait_for(says(second_out, "Standing by: the scheduler lease is held by"), "the standby")
    tick = leases.get(SCHEDULER_LEASE)

    first.send_signal(signal.SIGKILL)
    first.wait(WAIT_SECONDS)
    wait_for(says(second_out, "Holding the scheduler lease"), "the takeover")
    time.sleep(0.5)  # time for a wrong second dispatch of the same tick to show

    runs = home.runtime.ledger.list_runs()
    assert sorted(run.customer_id for run in runs) == sorted(ids)
    assert {run.trigger for run in runs} == {RunTrigger.SCHEDULE}
    after = leases.get(SCHEDULER_LEASE)
    assert tick is not None and after is not None
    assert (after.tick_at, after.tick_finished_at) == (tick.tick_at, tick.tick_finished_at)
    assert "Holding the scheduler lease" in first_out.read_text()

    second.send_signal(signal.SIGTERM)
    assert second.wait(WAIT_SECONDS) == 0
    assert second_out.read_text().splitlines()[-1] == "Scheduler stopped"
    assert leases.holder(SCHEDULER_LEASE) is None  # released: a standby takes over at once


def test_each_customer_is_dispatched_once_when_two_once_schedulers_start_together(
    home: Home,
) -> None:
    engine = home.runtime.engine
    ids = {add_customer(engine, name=f"c{i}").id for i in range(5)}

    started = [home.start("scheduler", "--once") for _ in range(2)]
    for process, _ in started:
        assert process.wait(60) == 0

    runs = home.runtime.ledger.list_runs()
    assert sorted(run.customer_id for run in runs) == sorted(ids)
    assert len({run.dispatched_by for run in runs}) == 1
    outputs = [out.read_text() for _, out in started]
    assert sum("Dispatching sync jobs for 5 customers" in text for text in outputs) == 1


def test_worker_completes_the_run_as_attempt_2_when_the_reaper_requeued_it_after_its_worker_died(
    home: Home, sim_admin: SimulatorAdmin
) -> None:
    customer = home.add_sim_customer(sim_admin, "tenant-001")
    (run,) = record_runs(home.runtime, [customer.id])
    claim(home.runtime, run.run_id, "host:1:killed-worker")
    expire_run_lease(home.runtime.engine, run.run_id)

    reaped = home.run("scheduler", "--once")
    worked = home.run("worker", "--drain", timeout=90)

    assert reaped.returncode == 0, reaped.stderr
    assert "Repair: 1 re-enqueued after a lost worker, 0 after a lost job, 0 failed" in (
        reaped.stdout.splitlines()
    )
    assert worked.returncode == 0, worked.stderr
    stored = home.runtime.ledger.get(run.run_id)
    assert stored is not None and (stored.status, stored.attempt) == (RunStatus.SUCCEEDED, 2)
    assert stored.counts.listed == len(sim_admin.workflows("tenant-001"))
    assert len(home.runtime.ledger.list_runs()) == 1


def test_every_run_completes_when_the_queue_was_wiped_and_the_reaper_rebuilt_it(
    home: Home, sim_admin: SimulatorAdmin
) -> None:
    customers = [home.add_sim_customer(sim_admin, f"tenant-00{n}") for n in (1, 2)]
    dispatched = subprocess.run(
        [str(BIN / "sync-workflows")], env=home.env, capture_output=True, text=True, check=False
    )
    assert dispatched.returncode == 0, dispatched.stderr
    for name in ("queue.sqlite3", "queue.sqlite3-wal", "queue.sqlite3-shm"):
        (home.path / name).unlink(missing_ok=True)  # the broker lost everything (F6)
    home.env["ZWS_STALE_QUEUED_GRACE_SECONDS"] = "1"
    time.sleep(1.2)

    reaped = home.run("scheduler", "--once")
    worked = home.run("worker", "--drain", timeout=90)

    assert "Repair: 0 re-enqueued after a lost worker, 2 after a lost job, 0 failed" in (
        reaped.stdout.splitlines()
    )
    assert worked.returncode == 0, worked.stderr
    runs = home.runtime.ledger.list_runs()
    assert sorted(run.customer_id for run in runs) == sorted(c.id for c in customers)
    assert {(run.status, run.attempt) for run in runs} == {(RunStatus.SUCCEEDED, 1)}
