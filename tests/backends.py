"""The suite's one backend fixture module: every configuration a test runs on.

- `backend`: a whole installation, on SQLite + SQLite queue and on PostgreSQL + Redis.
- `db_url` / `engine`: a migrated, empty database of each dialect (SQLite file, PostgreSQL).
- `coordination_url`: the coordination store (pacing and tokens) as a SQLite file and on Redis.

PostgreSQL databases come from a template migrated once per test process with
`store.migrate.upgrade` (what `workflow-sync db upgrade` runs): a test's database is cloned from
it, or is the previous test's emptied and renamed (`tests/kept_database.py`: ~30 ms instead of
~200 ms and most of PostgreSQL's CPU in the suite); SQLite files are copied from a migrated one.
Redis databases come from `tests.services` (one per suite and xdist worker, emptied before and
after each test). A service that cannot be reached skips the test with the
reason, or fails it when REQUIRE_SERVICES=1 (CI). Registered as a plugin by tests/conftest.py.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.kept_database import KeptDatabase
from tests.services import (
    connect_admin,
    postgres_url,
    redis_test_url,
    reserved_redis,
    run_admin,
)
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for

# Nothing listens on port 1 of the loopback: connecting is refused at once.
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"
UNUSABLE_SQLITE_QUEUE_URL = "sqlite:////proc/no-such-dir/queue.sqlite3"


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


@pytest.fixture(scope="session")
def backend_postgres_template() -> Iterator[tuple[Engine, str]]:
    """The admin engine and a database migrated once, the template of every test's database."""
    engine = connect_admin()
    name = f"zws_template_{uuid.uuid4().hex}"
    run_admin(engine, f'CREATE DATABASE "{name}"')
    try:
        migrate.upgrade(postgres_url(name))
        yield engine, name
    finally:
        run_admin(engine, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


@pytest.fixture(scope="session")
def kept_postgres_database(
    backend_postgres_template: tuple[Engine, str],
) -> Iterator[KeptDatabase]:
    with KeptDatabase(*backend_postgres_template) as kept:
        yield kept


@pytest.fixture
def cloned_postgres_url(kept_postgres_database: KeptDatabase) -> Iterator[str]:
    """A migrated, empty PostgreSQL database of its own, under a name no earlier test used; after
    the test its connections are ended and it is emptied for the next (or dropped)."""
    name = kept_postgres_database.take()
    try:
        yield postgres_url(name)
    finally:
        kept_postgres_database.give_back(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty SQLite file of this test's own."""
    path = tmp_path / "store.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Parametrized here, not in @pytest.fixture(params=...): the `postgres` marker exists
    # only once the configuration is read, after this module's body ran.
    if "db_backend" in metafunc.fixturenames:
        metafunc.parametrize(
            "db_backend",
            [
                pytest.param("sqlite", id="sqlite"),
                pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
            ],
        )


@pytest.fixture
def db_url(request: pytest.FixtureRequest, db_backend: str) -> str:
    """A migrated, empty database of each dialect: the contract suites run over both."""
    fixture = "sqlite_url" if db_backend == "sqlite" else "cloned_postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_engine_for(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = create_engine_for(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def backend_redis_url() -> Iterator[str]:
    """A Redis database for an installation's queue, empty before and after the test."""
    with reserved_redis(redis_test_url("backend")) as url:
        yield url


@pytest.fixture
def coordination_redis_url() -> Iterator[str]:
    """A Redis database for the coordination store, empty before and after the test."""
    with reserved_redis(redis_test_url("coordination")) as url:
        yield url


@pytest.fixture
def queue_redis_url() -> Iterator[str]:
    """A Redis database for the queue suite, empty before and after the test."""
    with reserved_redis(redis_test_url("queue")) as url:
        yield url


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
def coordination_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The coordination store of one test: a SQLite file, or a Redis database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coordination.sqlite3'}"
    url: str = request.getfixturevalue("coordination_redis_url")
    return url


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
    """Each configuration in turn: `sqlite` (two files) or `postgres_redis` (services).

    Both come migrated, as the PostgreSQL clone does: the SQLite data file is a copy of the
    migrated template, so the test's first command does not run Alembic (the first use of an
    empty file is covered by the demo's and the missing-extras tests)."""
    if request.param == "sqlite":
        folder = tmp_path / "sqlite"
        folder.mkdir()
        shutil.copyfile(request.getfixturevalue("sqlite_template"), folder / "zws.sqlite3")
        return sqlite_backend(folder)
    database_url: str = request.getfixturevalue("cloned_postgres_url")
    queue_url: str = request.getfixturevalue("backend_redis_url")
    return Backend("postgres_redis", database_url, queue_url, UNREACHABLE_REDIS_URL)
