"""Named leases on each database: one holder at a time, the database clock, ticks kept once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, inspect, update

from tests.polling import wait_until
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.leases import LeaseKeeper, LeaseRepository
from zuora_workflow_sync.store.tables import LeaseRow

from .conftest import expire_lease

NAME = "scheduler"


def test_acquire_succeeds_when_nobody_ever_held_the_lease(leases: LeaseRepository) -> None:
    assert leases.acquire(NAME, "a", 30)

    held = leases.holder(NAME)
    assert held is not None and held.owner == "a"
    assert (held.tick_at, held.tick_finished_at) == (None, None)


def test_acquire_fails_when_another_owner_holds_the_lease(leases: LeaseRepository) -> None:
    assert leases.acquire(NAME, "a", 30)

    assert not leases.acquire(NAME, "b", 30)
    held = leases.holder(NAME)
    assert held is not None and held.owner == "a"


def test_acquire_takes_over_when_the_lease_expired(leases: LeaseRepository, engine: Engine) -> None:
    assert leases.acquire(NAME, "a", 30)
    expire_lease(engine)

    assert leases.holder(NAME) is None
    assert leases.acquire(NAME, "b", 30)
    held = leases.holder(NAME)
    assert held is not None and held.owner == "b"


def test_acquire_takes_over_when_the_ttl_elapsed_on_the_database_clock(
    leases: LeaseRepository,
) -> None:
    assert leases.acquire(NAME, "a", 0.3)
    assert not leases.acquire(NAME, "b", 0.3)

    time.sleep(0.5)

    assert leases.acquire(NAME, "b", 30)


def test_acquire_extends_and_keeps_acquired_at_when_the_owner_holds_it(
    leases: LeaseRepository,
) -> None:
    assert leases.acquire(NAME, "a", 5)
    first = leases.holder(NAME)

    assert leases.acquire(NAME, "a", 60)

    again = leases.holder(NAME)
    assert first is not None and again is not None
    assert again.acquired_at == first.acquired_at
    assert again.expires_at > first.expires_at


def test_lease_times_come_from_the_database_clock_when_acquired(
    leases: LeaseRepository,
) -> None:
    before = leases.now()
    assert leases.acquire(NAME, "a", 120)
    after = leases.now()

    held = leases.holder(NAME)
    assert held is not None
    assert before <= held.acquired_at <= after
    assert held.expires_at - held.acquired_at == timedelta(seconds=120)


def test_renew_extends_the_lease_when_the_owner_holds_it(leases: LeaseRepository) -> None:
    assert leases.acquire(NAME, "a", 5)
    first = leases.holder(NAME)

    assert leases.renew(NAME, "a", 60)

    again = leases.holder(NAME)
    assert first is not None and again is not None and again.expires_at > first.expires_at


@pytest.mark.parametrize("situation", ["other_owner", "expired", "never_acquired"])
def test_renew_fails_when_the_lease_is_not_held(
    leases: LeaseRepository, engine: Engine, situation: str
) -> None:
    if situation != "never_acquired":
        assert leases.acquire(NAME, "a", 30)
    if situation == "expired":
        expire_lease(engine)

    owner = "b" if situation == "other_owner" else "a"
    assert not leases.renew(NAME, owner, 30)


def test_release_lets_another_owner_in_at_once_when_the_owner_releases(
    leases: LeaseRepository,
) -> None:
    assert leases.acquire(NAME, "a", 300)

    assert not leases.release(NAME, "b")
    assert leases.release(NAME, "a")

    assert leases.holder(NAME) is None
    assert not leases.renew(NAME, "a", 30)
    assert leases.acquire(NAME, "b", 30)


def test_exactly_one_owner_acquires_when_many_contend_at_once(engine: Engine) -> None:
    leases = LeaseRepository(engine)
    contenders = 8
    barrier = threading.Barrier(contenders)
    won: list[str] = []

    def contend(owner: str) -> None:
        barrier.wait()
        if leases.acquire(NAME, owner, 30):
            won.append(owner)

    threads = [threading.Thread(target=contend, args=(f"o{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(won) == 1
    held = leases.holder(NAME)
    assert held is not None and held.owner == won[0]


def test_begin_tick_claims_a_tick_once_when_asked_twice(leases: LeaseRepository) -> None:
    assert leases.acquire(NAME, "a", 30)
    tick = leases.now().replace(microsecond=0)

    assert leases.begin_tick(NAME, "a", tick)
    assert leases.finish_tick(NAME, tick)

    assert not leases.begin_tick(NAME, "a", tick)
    assert not leases.finish_tick(NAME, tick)
    assert not leases.begin_tick(NAME, "a", tick - timedelta(minutes=1))
    assert leases.begin_tick(NAME, "a", tick + timedelta(minutes=1))


def test_begin_tick_resumes_an_unfinished_tick_when_the_lease_changed_hands(
    leases: LeaseRepository, engine: Engine
) -> None:
    assert leases.acquire(NAME, "a", 30)
    tick = leases.now().replace(microsecond=0)
    assert leases.begin_tick(NAME, "a", tick)
    expire_lease(engine)  # "a" died before finishing the tick
    assert leases.acquire(NAME, "b", 30)

    assert leases.begin_tick(NAME, "b", tick)
    assert leases.finish_tick(NAME, tick)

    expire_lease(engine)
    assert leases.acquire(NAME, "c", 30)
    assert not leases.begin_tick(NAME, "c", tick)
    lease = leases.get(NAME)
    assert lease is not None and lease.tick_at == tick and lease.tick_finished_at is not None


@pytest.mark.parametrize("situation", ["other_owner", "expired"])
def test_begin_tick_refuses_when_the_caller_does_not_hold_the_lease(
    leases: LeaseRepository, engine: Engine, situation: str
) -> None:
    assert leases.acquire(NAME, "a", 30)
    if situation == "expired":
        expire_lease(engine)
    owner = "b" if situation == "other_owner" else "a"

    assert not leases.begin_tick(NAME, owner, leases.now())
    lease = leases.get(NAME)
    assert lease is not None and lease.tick_at is None


def test_keeper_renews_the_lease_when_its_work_outlasts_the_ttl(engine: Engine) -> None:
    leases = LeaseRepository(engine)
    keeper = LeaseKeeper(leases, NAME, "a", 1.0)
    assert keeper.try_acquire()
    keeper.start()
    try:
        time.sleep(1.6)
        assert keeper.holds()
        assert not leases.acquire(NAME, "b", 30)
    finally:
        keeper.stop()
    assert leases.holder(NAME) is None  # released on stop


def test_keeper_stops_trusting_the_lease_when_another_owner_took_it(engine: Engine) -> None:
    leases = LeaseRepository(engine)
    keeper = LeaseKeeper(leases, NAME, "a", 1.5)
    assert keeper.try_acquire()
    keeper.start()
    try:
        with engine.begin() as conn:  # as if "a" had paused past its lease and "b" took it
            conn.execute(update(LeaseRow).where(LeaseRow.name == NAME).values(owner="b"))
        wait_until(lambda: not keeper.holds(), timeout=5, what="the keeper to see its lease lost")
        assert not keeper.try_acquire()
    finally:
        keeper.stop()
    held = leases.holder(NAME)
    assert held is not None and held.owner == "b"  # stop releases only its own lease


def test_keeper_leaves_the_lease_to_expire_when_stopped_without_release(engine: Engine) -> None:
    leases = LeaseRepository(engine)
    keeper = LeaseKeeper(leases, NAME, "a", 0.5)
    assert keeper.try_acquire()

    keeper.stop(release=False)

    assert not keeper.holds()
    assert not leases.acquire(NAME, "b", 30)
    time.sleep(0.7)
    assert leases.acquire(NAME, "b", 30)


def test_leases_table_goes_away_alone_when_downgraded_to_the_first_revision(
    sqlite_url: str,
) -> None:
    migrate.downgrade(sqlite_url, "0001")

    engine = create_engine_for(sqlite_url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert "leases" not in tables and "sync_runs" in tables
    assert migrate.current(sqlite_url) == "0001"
    migrate.upgrade(sqlite_url)
    assert migrate.current(sqlite_url) == migrate.head_revision()
