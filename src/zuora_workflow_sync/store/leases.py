"""Named leases in the database: at most one owner at a time, e.g. the fleet's one scheduler.

Every time is the database's (reliability F20): a caller's clock never decides who holds a lease.
Each operation is one statement, so two contenders cannot both win. A lease row is never deleted:
it also carries the holder's progress marker (the scheduler's last cron tick) across handovers.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ColumnElement

from zuora_workflow_sync.store.engine import db_now, reading, writing
from zuora_workflow_sync.store.tables import NAME_MAX_LENGTH, LeaseRow

logger = logging.getLogger(__name__)

_MAX_TTL_SECONDS = 86400.0
# Of a lease's TTL, the share a holder trusts locally: it stops acting before the database could
# let another owner in, even when its renewals stall.
_TRUSTED_SHARE = 0.8
_LEASE_NAME_MAX_LENGTH = 100


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease row as read back; `tick_finished_at` is None while the tick's work is unfinished."""

    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime
    tick_at: datetime | None
    tick_finished_at: datetime | None


class LeaseRepository:
    """Acquire, renew, release and inspect named leases through `engine`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def acquire(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take the lease for `ttl_seconds`: True when `owner` now holds it.

        Succeeds when nobody ever held it, when it expired, or when `owner` already holds it
        (then it is extended and keeps its `acquired_at`). One INSERT ... ON CONFLICT DO UPDATE
        ... WHERE, so of two contenders exactly one wins.
        """
        _check(name, owner, ttl_seconds)
        with writing(self._engine) as conn:
            insert = _insert(conn).values(
                name=name,
                owner=owner,
                acquired_at=db_now(),
                expires_at=db_now(ttl_seconds),
            )
            takeover = insert.on_conflict_do_update(
                index_elements=[LeaseRow.name],
                set_={
                    "owner": insert.excluded.owner,
                    "acquired_at": case(
                        (LeaseRow.owner == insert.excluded.owner, LeaseRow.acquired_at),
                        else_=insert.excluded.acquired_at,
                    ),
                    "expires_at": insert.excluded.expires_at,
                },
                where=or_(LeaseRow.owner == insert.excluded.owner, LeaseRow.expires_at <= db_now()),
            )
            return conn.execute(takeover.returning(LeaseRow.name)).first() is not None

    def renew(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Extend a lease `owner` still holds to database now + `ttl_seconds`; False if lost.

        An expired lease is never renewed, even if nobody took it: acquire it again.
        """
        _check(name, owner, ttl_seconds)
        statement = (
            update(LeaseRow).where(_held(name, owner)).values(expires_at=db_now(ttl_seconds))
        )
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount == 1

    def release(self, name: str, owner: str) -> bool:
        """Let the lease expire now so another owner may take it at once; False if not held."""
        statement = update(LeaseRow).where(_held(name, owner)).values(expires_at=db_now())
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount == 1

    def holder(self, name: str) -> Lease | None:
        """The lease while someone holds it (not expired on the database clock), else None."""
        return self._read(LeaseRow.name == name, LeaseRow.expires_at > db_now())

    def get(self, name: str) -> Lease | None:
        """The lease row whether held or expired; None when it was never acquired."""
        return self._read(LeaseRow.name == name)

    def begin_tick(self, name: str, owner: str, tick_at: datetime) -> bool:
        """Claim the work of `tick_at` for `owner`, who must hold the lease: True to go ahead.

        True when the lease's last tick is older (or none), or is this very tick left
        unfinished (its holder died midway: the work is resumed). False when this tick is
        finished, a newer one was claimed, or `owner` does not hold the lease.
        """
        claimable = or_(
            LeaseRow.tick_at.is_(None),
            LeaseRow.tick_at < tick_at,
            and_(LeaseRow.tick_at == tick_at, LeaseRow.tick_finished_at.is_(None)),
        )
        statement = (
            update(LeaseRow)
            .where(_held(name, owner), claimable)
            .values(tick_at=tick_at, tick_finished_at=None)
        )
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount == 1

    def finish_tick(self, name: str, tick_at: datetime) -> bool:
        """Record that the work of `tick_at` is done; False when it was already recorded or
        a newer tick was claimed meanwhile."""
        statement = (
            update(LeaseRow)
            .where(
                LeaseRow.name == name,
                LeaseRow.tick_at == tick_at,
                LeaseRow.tick_finished_at.is_(None),
            )
            .values(tick_finished_at=db_now())
        )
        with writing(self._engine) as conn:
            return conn.execute(statement).rowcount == 1

    def now(self) -> datetime:
        """The database's current UTC time: the clock every lease is measured with."""
        with reading(self._engine) as conn:
            return conn.execute(select(db_now())).scalar_one()

    def _read(self, *criteria: ColumnElement[bool]) -> Lease | None:
        query = select(LeaseRow.__table__).where(*criteria)
        with reading(self._engine) as conn:
            row = conn.execute(query).first()
        return None if row is None else Lease(**row._mapping)


class LeaseKeeper:
    """Holds one named lease: acquired from the caller's loop, renewed on its own thread.

    `holds()` is True only within a safe share of the TTL after the last successful acquire or
    renewal (monotonic clock), so a holder whose renewals stall stops acting first.
    """

    def __init__(self, leases: LeaseRepository, name: str, owner: str, ttl_seconds: float) -> None:
        self.name = name
        self.owner = owner
        self.ttl_seconds = ttl_seconds
        self.renew_every_seconds = ttl_seconds / 3
        self._leases = leases
        self._lock = threading.Lock()
        self._valid_until: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def holds(self) -> bool:
        with self._lock:
            return self._valid_until is not None and time.monotonic() < self._valid_until

    def try_acquire(self) -> bool:
        """Acquire (or extend) the lease unless held already; True when this owner holds it."""
        if not self.holds():
            started = time.monotonic()
            acquired = self._leases.acquire(self.name, self.owner, self.ttl_seconds)
            self._trust(started, held=acquired)
        return self.holds()

    def start(self) -> None:
        """Start the renewal thread (once: a stopped keeper stays stopped)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._renew_loop, name=f"lease-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self, *, release: bool = True) -> None:
        """Stop renewing and, with `release`, let the lease go so a standby takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._trust(0.0, held=False)
        if release:
            try:
                self._leases.release(self.name, self.owner)
            except Exception:  # the lease then simply expires
                logger.warning("could not release the %s lease", self.name, exc_info=True)

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_every_seconds):
            if not self.holds():
                continue
            started = time.monotonic()
            try:
                renewed = self._leases.renew(self.name, self.owner, self.ttl_seconds)
            except Exception:  # the database is away: keep trusting what is left, then lapse
                logger.warning("could not renew the %s lease", self.name, exc_info=True)
                continue
            if not renewed:
                logger.warning("the %s lease was lost", self.name, extra={"event": "lease_lost"})
            self._trust(started, held=renewed)

    def _trust(self, started: float, *, held: bool) -> None:
        with self._lock:
            self._valid_until = started + self.ttl_seconds * _TRUSTED_SHARE if held else None


def _held(name: str, owner: str) -> ColumnElement[bool]:
    return and_(LeaseRow.name == name, LeaseRow.owner == owner, LeaseRow.expires_at > db_now())


def _insert(conn: Connection) -> sqlite.Insert | postgresql.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(LeaseRow)
    return sqlite.insert(LeaseRow)


def _check(name: str, owner: str, ttl_seconds: float) -> None:
    if not 0 < len(name) <= _LEASE_NAME_MAX_LENGTH or not 0 < len(owner) <= NAME_MAX_LENGTH:
        raise ValueError(
            f"a lease name takes 1-{_LEASE_NAME_MAX_LENGTH} characters and an owner "
            f"1-{NAME_MAX_LENGTH}"
        )
    if not 0 < ttl_seconds <= _MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be in (0, {_MAX_TTL_SECONDS:.0f}]")
