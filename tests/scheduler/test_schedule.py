"""The scheduler on each database: one acts, each tick is dispatched once, the reaper repeats."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from tests.polling import wait_until
from tests.store.factories import add_customer
from zuora_workflow_sync.cli.scheduler import QueueCache
from zuora_workflow_sync.domain.models import RunTrigger
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.queue import QueueUnavailableError
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store.leases import LeaseRepository
from zuora_workflow_sync.store.tables import CustomerRow
from zuora_workflow_sync.sync.schedule import (
    SCHEDULER_LEASE,
    CronSchedule,
    Scheduler,
    StepReport,
    schedule_tolerance,
)

from .conftest import (
    FakeClock,
    MakeScheduler,
    SwitchableQueues,
    expire_lease,
    record_runs,
)


def _customers(engine: Engine, count: int) -> list[int]:
    return [add_customer(engine, name=f"customer-{i}").id for i in range(count)]


def _scheduled(runtime: Runtime) -> dict[int, int]:
    """Scheduled runs per customer."""
    counts: dict[int, int] = {}
    for run in runtime.ledger.list_runs(limit=1000):
        if run.trigger is RunTrigger.SCHEDULE:
            counts[run.customer_id] = counts.get(run.customer_id, 0) + 1
    return counts


def test_only_one_scheduler_acts_when_two_step_on_the_same_tick(
    runtime: Runtime, engine: Engine, make_scheduler: MakeScheduler, clock: FakeClock
) -> None:
    ids = _customers(engine, 3)
    first, second = make_scheduler("host-a:1:aa"), make_scheduler("host-b:2:bb")

    reports = [first.step(), second.step(), first.step(), second.step()]

    assert [report.holds for report in reports] == [True, False, True, False]
    assert {report.holder for report in reports} == {"host-a:1:aa"}
    assert reports[0].tick_at == CronSchedule("* * * * *").latest(clock.now)
    assert [report.tick_at for report in reports[1:]] == [None, None, None]
    assert _scheduled(runtime) == dict.fromkeys(ids, 1)
    assert {run.dispatched_by for run in runtime.ledger.list_runs()} == {"scheduler host-a:1:aa"}


def test_exactly_one_dispatch_happens_when_many_schedulers_step_at_once(
    runtime: Runtime, engine: Engine, make_scheduler: MakeScheduler
) -> None:
    ids = _customers(engine, 4)
    schedulers = [make_scheduler(f"host-{i}:1:x") for i in range(6)]
    barrier = threading.Barrier(len(schedulers))
    reports: list[StepReport] = []

    def step(scheduler: Scheduler) -> None:
        barrier.wait()
        reports.append(scheduler.step())

    threads = [threading.Thread(target=step, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sum(report.holds for report in reports) == 1
    assert sum(report.tick_at is not None for report in reports) == 1
    assert _scheduled(runtime) == dict.fromkeys(ids, 1)


def test_next_tick_is_dispatched_when_the_cron_fires_again(
    runtime: Runtime, engine: Engine, make_scheduler: MakeScheduler, clock: FakeClock
) -> None:
    _customers(engine, 2)
    scheduler = make_scheduler("host-a:1:aa")
    first = scheduler.step()

    clock.advance(60)
    second = scheduler.step()

    assert first.tick_at is not None and second.tick_at is not None
    assert (second.tick_at - first.tick_at).total_seconds() == 60
    assert second.dispatch is not None and len(second.dispatch.skipped_active) == 2


def test_tick_is_not_dispatched_again_when_the_lease_passes_to_another_scheduler(
    runtime: Runtime,
    engine: Engine,
    make_scheduler: MakeScheduler,
    clock: FakeClock,
    leases: LeaseRepository,
) -> None:
    ids = _customers(engine, 3)
    first, second = make_scheduler("host-a:1:aa"), make_scheduler("host-b:2:bb")
    assert first.step().tick_at is not None
    first.close(release=False)  # the holder dies: no release, no renewal
    assert not second.step().holds

    expire_lease(engine)
    took_over = second.step()

    assert took_over.holds and took_over.tick_at is None
    assert _scheduled(runtime) == dict.fromkeys(ids, 1)
    clock.advance(60)
    assert second.step().tick_at == CronSchedule("* * * * *").latest(clock.now)
    lease = leases.get(SCHEDULER_LEASE)
    assert lease is not None and lease.owner == "host-b:2:bb"


def test_unfinished_tick_is_resumed_without_duplicates_when_its_holder_died_midway(
    runtime: Runtime,
    engine: Engine,
    make_scheduler: MakeScheduler,
    clock: FakeClock,
    leases: LeaseRepository,
) -> None:
    ids = _customers(engine, 4)
    tick = CronSchedule("* * * * *").latest(clock.now)
    assert leases.acquire(SCHEDULER_LEASE, "host-dead:1:xx", 30)
    assert leases.begin_tick(SCHEDULER_LEASE, "host-dead:1:xx", tick)
    record_runs(runtime, ids[:2], trigger=RunTrigger.SCHEDULE)  # then it was killed
    expire_lease(engine)

    report = make_scheduler("host-b:2:bb").step()

    assert report.tick_at == tick
    assert report.dispatch is not None and len(report.dispatch.queued) == 2
    resumed = [r for r in runtime.ledger.list_runs() if r.dispatched_by == "scheduler host-b:2:bb"]
    assert sorted(run.customer_id for run in resumed) == ids[2:]
    assert _scheduled(runtime) == dict.fromkeys(ids, 1)
    lease = leases.get(SCHEDULER_LEASE)
    assert lease is not None and lease.tick_at == tick and lease.tick_finished_at is not None


def test_dispatch_waits_for_the_queue_when_it_is_unavailable(
    runtime: Runtime, engine: Engine, make_scheduler: MakeScheduler, queues: QueueCache
) -> None:
    ids = _customers(engine, 2)
    broker = SwitchableQueues(queues)
    broker.down = True
    scheduler = make_scheduler("host-a:1:aa", queues=broker)

    down = scheduler.step()
    assert down.holds and down.tick_at is None
    assert runtime.ledger.list_runs() == []

    broker.down = False
    up = scheduler.step()
    assert up.tick_at is not None
    assert _scheduled(runtime) == dict.fromkeys(ids, 1)
    assert queues(runtime.settings.default_queue).pending_count() == 2


def test_reaper_runs_once_per_interval_when_the_scheduler_holds_the_lease(
    make_scheduler: MakeScheduler, clock: FakeClock
) -> None:
    scheduler = make_scheduler("host-a:1:aa")  # ZWS_REAPER_INTERVAL_SECONDS: 10 by default

    passes = []
    for advance in (0, 3, 5, 3, 10):
        clock.advance(advance)
        passes.append(scheduler.step().repair is not None)

    assert passes == [True, False, False, True, True]


def test_standby_does_not_repair_when_another_scheduler_holds_the_lease(
    make_scheduler: MakeScheduler,
) -> None:
    make_scheduler("host-a:1:aa").step()

    standby = make_scheduler("host-b:2:bb").step()

    assert standby == StepReport(False, "host-a:1:aa")


def test_run_releases_the_lease_when_stopped(
    runtime: Runtime, queues: QueueCache, leases: LeaseRepository
) -> None:
    scheduler = Scheduler(
        runtime, "host-a:1:aa", queues=queues, queue_errors=(QueueUnavailableError,)
    )
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop,))
    thread.start()
    try:
        wait_until(
            lambda: leases.holder(SCHEDULER_LEASE) is not None,
            timeout=10,
            what="the scheduler to take its lease",
        )
        held = leases.holder(SCHEDULER_LEASE)
        assert held is not None and held.owner == "host-a:1:aa"
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert leases.holder(SCHEDULER_LEASE) is None


@pytest.mark.parametrize(
    "expression",
    ["61 * * * *", "* * * *", "0 0 * * * *", "every hour", "0 0 30 2 *", ""],
)
def test_cron_is_refused_when_the_expression_is_invalid(expression: str) -> None:
    with pytest.raises(ConfigurationError, match="ZWS_SCHEDULE_CRON"):
        CronSchedule(expression)


def test_scheduler_refuses_to_start_when_its_cron_expression_is_invalid(
    make_scheduler: MakeScheduler,
) -> None:
    with pytest.raises(ConfigurationError, match="invalid ZWS_SCHEDULE_CRON '0 25 \\* \\* \\*'"):
        make_scheduler("host-a:1:aa", cron="0 25 * * *")


@pytest.mark.parametrize(
    ("expression", "at", "latest", "following"),
    [
        ("0 * * * *", (10, 37, 12), (10, 0), (11, 0)),
        ("0 * * * *", (10, 0, 0), (10, 0), (11, 0)),
        ("*/15 * * * *", (10, 44, 59), (10, 30), (10, 45)),
    ],
)
def test_cron_finds_the_latest_and_next_firing_when_given_a_moment(
    expression: str,
    at: tuple[int, int, int],
    latest: tuple[int, int],
    following: tuple[int, int],
) -> None:
    moment = datetime(2026, 3, 1, *at, 500, tzinfo=UTC)
    cron = CronSchedule(expression)

    assert cron.latest(moment) == datetime(2026, 3, 1, *latest, tzinfo=UTC)
    assert cron.next_after(moment) == datetime(2026, 3, 1, *following, tzinfo=UTC)


def test_scheduled_dispatch_counts_a_customer_synced_just_under_the_window_ago_as_due(
    runtime: Runtime, engine: Engine, make_scheduler: MakeScheduler, clock: FakeClock
) -> None:
    # Synced 55 minutes before the tick (a stagger and a sync after the previous hourly tick):
    # due, or an hourly cron would sync it every two hours. Synced 40 minutes ago: not due.
    late, recent = _customers(engine, 2)
    tick = CronSchedule("* * * * *").latest(clock.now)
    with engine.begin() as conn:
        for customer, minutes in ((late, 55), (recent, 40)):
            conn.execute(
                update(CustomerRow)
                .where(CustomerRow.id == customer)
                .values(last_synced_at=tick - timedelta(minutes=minutes))
            )

    report = make_scheduler("host-a:1:aa").step()

    assert report.tick_at == tick
    assert _scheduled(runtime) == {late: 1}
    assert schedule_tolerance(runtime.settings) == 900.0
