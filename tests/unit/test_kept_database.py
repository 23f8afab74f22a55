"""The suite's kept PostgreSQL database (tests/kept_database.py): what the next test gets is what
a fresh clone of the template would be, under a name no process of the last test can reach."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine

from tests.kept_database import FINGERPRINT, KeptDatabase, libpq_url
from tests.services import postgres_url
from tests.store.factories import add_customer
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.engine import create_engine_for

pytestmark = pytest.mark.postgres


@pytest.fixture
def kept(backend_postgres_template: tuple[Engine, str]) -> Iterator[KeptDatabase]:
    with KeptDatabase(*backend_postgres_template) as database:
        yield database


def connect(name: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(libpq_url(name), autocommit=True)


def exists(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return found.first() is not None


def fill(name: str, count: int) -> list[int]:
    """Add `count` customers through the store; their ids."""
    engine = create_engine_for(postgres_url(name))
    try:
        return [add_customer(engine, f"customer-{n}").id for n in range(count)]
    finally:
        engine.dispose()


def test_the_next_test_gets_the_database_emptied_with_its_ids_from_1_under_a_new_name(
    kept: KeptDatabase, backend_postgres_template: tuple[Engine, str]
) -> None:
    engine, _ = backend_postgres_template
    first = kept.take()
    assert fill(first, 3) == [1, 2, 3]
    kept.give_back(first)
    second = kept.take()
    assert second != first and not exists(engine, first)
    with connect(second) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (0,)
    assert fill(second, 1) == [1]
    kept.give_back(second)


def test_a_connection_the_test_left_open_is_ended_and_cannot_come_back(
    kept: KeptDatabase,
) -> None:
    name = kept.take()
    left_open = connect(name)
    kept.give_back(name)
    with pytest.raises(psycopg.OperationalError):
        left_open.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        connect(name)


def test_a_database_whose_schema_the_test_changed_is_dropped_and_the_next_is_a_clone(
    kept: KeptDatabase, backend_postgres_template: tuple[Engine, str]
) -> None:
    _, template = backend_postgres_template
    name = kept.take()
    migrate.downgrade(postgres_url(name), "0005")
    kept.give_back(name)
    fresh = kept.take()
    with connect(fresh) as conn, connect(template) as original:
        assert conn.execute(FINGERPRINT).fetchone() == original.execute(FINGERPRINT).fetchone()
    assert migrate.current(postgres_url(fresh)) == migrate.head_revision()
    kept.give_back(fresh)
