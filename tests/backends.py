"""The `backend` fixture: a suite that takes it runs on SQLite + SQLite queue and on
PostgreSQL + Redis, the two configurations the product supports.

PostgreSQL: a fresh database per test, cloned from a template migrated once per session with
`store.migrate.upgrade` (what `workflow-sync db upgrade` runs). Redis: database 13 of
`ZWS_TEST_BACKEND_REDIS_URL`, reserved for these tests, flushed before and after each; test
sessions running at once on one machine take turns on it through a lock file. A service that
cannot be reached skips the test with the reason, or fails it when REQUIRE_SERVICES=1 (CI).
Registered as a plugin by tests/conftest.py, so every suite sees these fixtures.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
import redis
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for

POSTGRES_ADMIN_URL = os.environ.get(
    "ZWS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ZWS_TEST_BACKEND_REDIS_URL", "redis://127.0.0.1:6379/13")
# Nothing listens on port 1 of the loopback: connecting is refused at once.
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"
UNUSABLE_SQLITE_QUEUE_URL = "sqlite:////proc/no-such-dir/queue.sqlite3"
LOCK_WAIT_SECONDS = 90.0


@dataclass(frozen=True)
class Backend:
    """Where one installation keeps its data and its queue."""

    name: str
    database_url: str
    queue_url: str
    unreachable_queue_url: str

    @property
    def env(self) -> dict[str, str]:
        """The ZWS_* variables that select this configuration in a subprocess."""
        return {"ZWS_DATABASE_URL": self.database_url, "ZWS_QUEUE_URL": self.queue_url}

    @property
    def settings_fields(self) -> dict[str, str]:
        """The same as `Settings(...)` keyword arguments."""
        return {"database_url": self.database_url, "queue_url": self.queue_url}


def service_missing(reason: str) -> NoReturn:
    """Skip on a laptop; fail in CI (REQUIRE_SERVICES=1), where a missing service is a bug."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} and REQUIRE_SERVICES=1")
    pytest.skip(reason)


def postgres_url(database: str, admin_url: str = POSTGRES_ADMIN_URL) -> str:
    """`admin_url` pointed at another database (names are generated, never user input)."""
    return make_url(admin_url).set(database=database).render_as_string(hide_password=False)


def run_admin(engine: Engine, statement: str) -> None:
    # CREATE/DROP DATABASE take no bound parameters; names come from uuid4 hex only.
    with engine.connect() as conn:
        conn.execute(text(statement))


def connect_admin(admin_url: str) -> Engine:
    """An autocommit engine on `admin_url`, or a skip/failure naming the unreachable server."""
    engine = create_engine_for(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        where = make_url(admin_url).render_as_string(hide_password=True)
        service_missing(f"PostgreSQL unreachable at {where} ({type(error.orig).__name__})")
    return engine


@pytest.fixture(scope="session")
def backend_postgres_template() -> Iterator[tuple[Engine, str]]:
    """The admin engine and a database migrated once, the template of every test's database."""
    engine = connect_admin(POSTGRES_ADMIN_URL)
    name = f"zws_backend_template_{uuid.uuid4().hex}"
    run_admin(engine, f'CREATE DATABASE "{name}"')
    try:
        migrate.upgrade(postgres_url(name))
        yield engine, name
    finally:
        run_admin(engine, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


@pytest.fixture
def cloned_postgres_url(backend_postgres_template: tuple[Engine, str]) -> Iterator[str]:
    """A migrated, empty PostgreSQL database of its own, dropped (connections and all) after."""
    engine, template = backend_postgres_template
    name = f"zws_backend_{uuid.uuid4().hex}"
    run_admin(engine, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield postgres_url(name)
    finally:
        run_admin(engine, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def machine_lock(name: str, timeout: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Exclusive among the processes of this machine, e.g. two engineers' test sessions."""
    path = Path(tempfile.gettempdir()) / f"zws-tests-{re.sub(r'[^A-Za-z0-9]+', '-', name)}.lock"
    with open(path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another test session held {path} for {timeout:g} s")
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def reserved_redis(url: str) -> Iterator[str]:
    """Redis database `url`, for this test alone: empty before and after, other sessions on the
    machine wait (a lock file); skips when Redis is unreachable (fails with REQUIRE_SERVICES)."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.RedisError as error:
        client.close()
        service_missing(f"Redis unreachable at {url} ({type(error).__name__})")
    try:
        with machine_lock(url):
            client.flushdb()
            try:
                yield url
            finally:
                client.flushdb()
    finally:
        client.close()


@pytest.fixture
def backend_redis_url() -> Iterator[str]:
    """The reserved Redis database, empty before and after the test, for this session alone."""
    with reserved_redis(REDIS_URL) as url:
        yield url


def sqlite_backend(folder: Path) -> Backend:
    """Data and queue in two SQLite files under `folder` (migrated on first use)."""
    return Backend(
        name="sqlite",
        database_url=f"sqlite:///{folder / 'zws.sqlite3'}",
        queue_url=f"sqlite:///{folder / 'queue.sqlite3'}",
        unreachable_queue_url=UNUSABLE_SQLITE_QUEUE_URL,
    )


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgres_redis", id="postgres_redis", marks=[pytest.mark.postgres, pytest.mark.redis]
        ),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each configuration in turn: `sqlite` (two files) or `postgres_redis` (services)."""
    if request.param == "sqlite":
        return sqlite_backend(tmp_path / "sqlite")
    database_url: str = request.getfixturevalue("cloned_postgres_url")
    queue_url: str = request.getfixturevalue("backend_redis_url")
    return Backend("postgres_redis", database_url, queue_url, UNREACHABLE_REDIS_URL)
