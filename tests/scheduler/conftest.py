"""Fixtures of the scheduler suite: the store suite's databases, a runtime and queues on them.

`engine` / `db_url` come from tests/backends.py (a migrated SQLite file, or a PostgreSQL database
cloned from a migrated template, marked `postgres`: skipped without a server unless
REQUIRE_SERVICES=1).
The queue is a SQLite file in tmp_path whichever the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, update

from zuora_workflow_sync.cli.scheduler import QueueCache
from zuora_workflow_sync.domain.models import ClaimedRun, RecordedRun, RunRequest, RunTrigger
from zuora_workflow_sync.queue import QueueUnavailableError
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.engine import db_now
from zuora_workflow_sync.store.leases import LeaseRepository
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import LeaseRow, SyncRunRow
from zuora_workflow_sync.sync.schedule import Scheduler

TEST_KEY = Keyring.generate_key()
EVERY_MINUTE = "* * * * *"


def make_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "queue_url": f"sqlite:///{home / 'queue.sqlite3'}",
        "secret_keys": SecretStr(TEST_KEY),
        "stagger_min_seconds": 0.0,
        "stagger_max_seconds": 0.0,
        "http_max_attempts": 2,
        "http_backoff_base_seconds": 0.01,
        "http_backoff_cap_seconds": 0.05,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def runtime(settings: Settings, engine: Engine) -> Runtime:
    """A runtime on the test's database (each backend); the `engine` fixture disposes it."""
    return Runtime(settings, engine)


@pytest.fixture
def queues(settings: Settings) -> Iterator[QueueCache]:
    cache = QueueCache(settings.resolved_queue_url)
    yield cache
    cache.close()


@pytest.fixture
def leases(engine: Engine) -> LeaseRepository:
    return LeaseRepository(engine)


class FakeClock:
    """The scheduler's clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(leases: LeaseRepository) -> FakeClock:
    """Starts at the database's time, so runs it dispatches are neither early nor stale."""
    return FakeClock(leases.now())


class SwitchableQueues:
    """Opens real queues, or fails like an unreachable broker while `down` is True."""

    def __init__(self, cache: QueueCache) -> None:
        self._cache = cache
        self.down = False

    def __call__(self, name: str) -> Any:
        if self.down:
            raise QueueUnavailableError("connection refused", queue=name)
        return self._cache(name)


MakeScheduler = Callable[..., Scheduler]


@pytest.fixture
def make_scheduler(
    runtime: Runtime, queues: QueueCache, clock: FakeClock
) -> Iterator[MakeScheduler]:
    """Schedulers on the fake clock and an every-minute cron; closed (leases released) after."""
    made: list[Scheduler] = []

    def make(owner: str, **options: Any) -> Scheduler:
        values: dict[str, Any] = {
            "queues": queues,
            "queue_errors": (QueueUnavailableError,),
            "cron": EVERY_MINUTE,
            "clock": clock,
            **options,
        }
        scheduler = Scheduler(runtime, owner, **values)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.close()


def record_runs(
    runtime: Runtime,
    customer_ids: list[int],
    *,
    not_before_at: datetime | None = None,
    max_attempts: int = 3,
    trigger: RunTrigger = RunTrigger.COMMAND,
) -> list[RecordedRun]:
    start = not_before_at or LeaseRepository(runtime.engine).now()
    result = runtime.ledger.record_batch(
        [RunRequest(customer_id, start) for customer_id in customer_ids],
        queue=runtime.settings.default_queue,
        trigger=trigger,
        dispatched_by="tester@host",
        max_attempts=max_attempts,
    )
    return result.recorded


def claim(runtime: Runtime, run_id: int, worker: str = "host:1:Worker-1") -> ClaimedRun:
    claimed = runtime.ledger.claim(run_id, worker, 60.0)
    assert claimed is not None
    return claimed


def expire_run_lease(engine: Engine, run_id: int) -> None:
    """Push a run's lease an hour into the past on the database clock: its worker died."""
    with engine.begin() as conn:
        conn.execute(
            update(SyncRunRow).where(SyncRunRow.id == run_id).values(lease_expires_at=db_now(-3600))
        )


def age_queued_run(engine: Engine, run_id: int, seconds: float) -> None:
    """Make a queued run due `seconds` ago on the database clock."""
    with engine.begin() as conn:
        conn.execute(
            update(SyncRunRow).where(SyncRunRow.id == run_id).values(not_before_at=db_now(-seconds))
        )


def expire_lease(engine: Engine, name: str = "scheduler") -> None:
    """Make a named lease expired, as when its holder died and stopped renewing."""
    with engine.begin() as conn:
        conn.execute(update(LeaseRow).where(LeaseRow.name == name).values(expires_at=db_now(-1)))
