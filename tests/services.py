"""The services the suite talks to: PostgreSQL (an admin connection, databases by name) and Redis
(a database of its own for each suite, test process and test), and the rule for a missing one:
skip on a laptop, fail in CI (REQUIRE_SERVICES=1).

Isolation, so that runs at once never collide: every PostgreSQL database a test uses has a
uuid name. Each suite's Redis database depends on the pytest-xdist worker (`gw0` the first of
its row in `REDIS_DATABASES`, `gw1` the second, ...); a `ZWS_TEST_*_REDIS_URL` variable names one
instead. Either way a test holds its database through a lock file for its duration, so two
sessions on one machine that share a database take turns instead of flushing each other's keys.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
import redis
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from zuora_workflow_sync.store.engine import create_engine_for

POSTGRES_ADMIN_URL = os.environ.get(
    "ZWS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_SERVER = os.environ.get("ZWS_TEST_REDIS_SERVER", "redis://127.0.0.1:6379")
# Per suite, the database of each xdist worker in turn (database 0 is left to people).
REDIS_DATABASES = {
    "backend": (13, 12, 9, 6, 3),
    "coordination": (11, 10, 8, 5, 2),
    "queue": (15, 14, 7, 4, 1),
}
# Explicit choices (one database for every worker of a session: they take turns).
REDIS_URL_VARIABLES = {
    "backend": ("ZWS_TEST_BACKEND_REDIS_URL",),
    "coordination": (
        "ZWS_TEST_COORDINATION_REDIS_URL",
        "ZWS_TEST_PACING_REDIS_URL",
        "ZWS_TEST_TOKENS_REDIS_URL",
    ),
    "queue": ("ZWS_TEST_REDIS_URL",),
}
LOCK_WAIT_SECONDS = 120.0


def service_missing(reason: str) -> NoReturn:
    """Skip on a laptop; fail in CI (REQUIRE_SERVICES=1), where a missing service is a bug."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} and REQUIRE_SERVICES=1")
    pytest.skip(reason)


def xdist_worker() -> int:
    """This test process's pytest-xdist worker number (0 without xdist)."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0


def redis_test_url(suite: str) -> str:
    """The Redis database of `suite` for this test process."""
    for variable in REDIS_URL_VARIABLES[suite]:
        if os.environ.get(variable):
            return os.environ[variable]
    databases = REDIS_DATABASES[suite]
    return f"{REDIS_SERVER.rstrip('/')}/{databases[xdist_worker() % len(databases)]}"


def postgres_url(database: str, admin_url: str = POSTGRES_ADMIN_URL) -> str:
    """`admin_url` pointed at another database (names are generated, never user input)."""
    return make_url(admin_url).set(database=database).render_as_string(hide_password=False)


def run_admin(engine: Engine, statement: str) -> None:
    # CREATE/DROP DATABASE take no bound parameters; names come from uuid4 hex only.
    with engine.connect() as conn:
        conn.execute(text(statement))


def connect_admin(admin_url: str = POSTGRES_ADMIN_URL) -> Engine:
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
