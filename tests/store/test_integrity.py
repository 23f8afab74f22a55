"""The integrity check's revision rule (`store.integrity.find_problem`), on both dialects: at the
head it passes (without importing Alembic: the revision files name the head), behind it or on an
empty database it says which revision it found and the command that fixes it."""

from __future__ import annotations

from sqlalchemy import Engine

from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.integrity import find_problem


def test_a_database_at_the_head_revision_has_no_problem(engine: Engine) -> None:
    assert find_problem(engine) is None


def test_a_database_behind_the_head_says_both_revisions_and_the_upgrade(
    db_url: str, engine: Engine
) -> None:
    head = migrate.head_revision()
    migrate.downgrade(db_url, "0005")
    assert find_problem(engine) == (
        f"the database is at revision 0005, this code needs {head}: run `workflow-sync db upgrade`"
    )


def test_a_database_never_migrated_says_it_has_no_schema(db_url: str, engine: Engine) -> None:
    migrate.downgrade(db_url, "base")
    assert find_problem(engine) == (
        "the database has no schema yet: run `workflow-sync db upgrade`"
    )
