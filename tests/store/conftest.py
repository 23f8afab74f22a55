"""Fixtures of the store suite: a freshly migrated SQLite file or PostgreSQL database per test.

PostgreSQL tests clone a migrated template database; without a server they skip, unless
REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for

POSTGRES_ADMIN_URL = os.environ.get(
    "ZWS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def postgres_url(database: str) -> str:
    """The admin URL pointed at another database (names are generated, never user input)."""
    url = make_url(POSTGRES_ADMIN_URL).set(database=database)
    return url.render_as_string(hide_password=False)


def _admin_engine() -> Engine:
    return create_engine_for(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")


def _run_admin(engine: Engine, statement: str) -> None:
    # CREATE/DROP DATABASE cannot take bound parameters; names come from uuid4 hex only.
    with engine.connect() as conn:
        conn.execute(text(statement))


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        where = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        reason = f"PostgreSQL unreachable at {where} ({type(error.orig).__name__})"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} and REQUIRE_SERVICES=1")
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_template(postgres_admin: Engine) -> Iterator[str]:
    name = f"zws_template_{uuid.uuid4().hex}"
    _run_admin(postgres_admin, f'CREATE DATABASE "{name}"')
    try:
        migrate.upgrade(postgres_url(name))
        yield name
    finally:
        _run_admin(postgres_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "store.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_database(postgres_admin: Engine, postgres_template: str) -> Iterator[str]:
    name = f"zws_test_{uuid.uuid4().hex}"
    _run_admin(postgres_admin, f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    try:
        yield postgres_url(name)
    finally:
        _run_admin(postgres_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Parametrized here, not in @pytest.fixture(params=...): the `postgres` marker exists
    # only once this conftest is configured, after its module body ran.
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
    """A migrated, empty database of each dialect: the contract suite runs over both."""
    fixture = "sqlite_url" if db_backend == "sqlite" else "postgres_database"
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
