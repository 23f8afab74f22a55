"""The read side: each task's priority, and a trigram text index over tasks.

SQLite: an FTS5 table (trigram tokenizer) whose content is a view over `workflow_tasks` (the
text is stored once), kept in step by triggers; PostgreSQL: `pg_trgm` and a GIN index on the
task's name and parameters.
Existing rows are indexed and their priority filled from the stored export documents.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of store.search: a migration must not change with the code.
_FTS = "workflow_tasks_search"
_FTS_VIEW = "workflow_tasks_search_text"
_PG_INDEX = "ix_workflow_tasks_search_text"
_SQLITE_TEXT = "coalesce({row}.name, '') || char(10) || coalesce({row}.parameters, '')"
_PG_TEXT = (
    "(coalesce(workflow_tasks.name, '') || chr(10) || "
    "coalesce(CAST(workflow_tasks.parameters AS TEXT), ''))"
)
_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER {_FTS}_insert AFTER INSERT ON workflow_tasks BEGIN
        INSERT INTO {_FTS}(rowid, body) VALUES (new.id, {_SQLITE_TEXT.format(row="new")});
    END""",
    f"""CREATE TRIGGER {_FTS}_delete AFTER DELETE ON workflow_tasks BEGIN
        INSERT INTO {_FTS}({_FTS}, rowid, body)
        VALUES ('delete', old.id, {_SQLITE_TEXT.format(row="old")});
    END""",
    f"""CREATE TRIGGER {_FTS}_update AFTER UPDATE OF id, name, parameters ON workflow_tasks
    BEGIN
        INSERT INTO {_FTS}({_FTS}, rowid, body)
        VALUES ('delete', old.id, {_SQLITE_TEXT.format(row="old")});
        INSERT INTO {_FTS}(rowid, body) VALUES (new.id, {_SQLITE_TEXT.format(row="new")});
    END""",
)
_SQLITE_PRIORITIES = """
UPDATE workflow_tasks SET priority = (
    SELECT json_extract(task.value, '$.priority')
    FROM workflows, json_each(workflows.document, '$.tasks') AS task
    WHERE workflows.id = workflow_tasks.workflow_id
      AND json_type(task.value, '$.id') = 'integer'
      AND json_extract(task.value, '$.id') = workflow_tasks.zuora_task_id
      AND json_type(task.value, '$.priority') = 'text'
)
WHERE EXISTS (SELECT 1 FROM workflows WHERE json_type(workflows.document, '$.tasks') = 'array'
              AND workflows.id = workflow_tasks.workflow_id)
"""
_PG_PRIORITIES = """
UPDATE workflow_tasks SET priority = left(task ->> 'priority', 32)
FROM workflows CROSS JOIN LATERAL jsonb_array_elements(
    CASE WHEN jsonb_typeof(workflows.document -> 'tasks') = 'array'
         THEN workflows.document -> 'tasks' ELSE '[]'::jsonb END) AS task
WHERE workflows.id = workflow_tasks.workflow_id
  AND jsonb_typeof(task -> 'id') = 'number'
  AND (task ->> 'id') ~ '^[0-9]{1,18}$'
  AND (task ->> 'id')::bigint = workflow_tasks.zuora_task_id
  AND jsonb_typeof(task -> 'priority') = 'string'
"""


def upgrade() -> None:
    op.add_column("workflow_tasks", sa.Column("priority", sa.String(32), nullable=True))
    op.create_index("ix_workflow_tasks_priority", "workflow_tasks", ["priority"])
    if op.get_bind().dialect.name == "sqlite":
        _upgrade_sqlite()
    else:
        _upgrade_postgresql()


def _upgrade_sqlite() -> None:
    op.execute(_SQLITE_PRIORITIES)
    _unescape_sqlite_parameters()
    op.execute(
        f"CREATE VIEW {_FTS_VIEW} AS SELECT id, "
        f"{_SQLITE_TEXT.format(row='workflow_tasks')} AS body FROM workflow_tasks"
    )
    op.execute(
        f"CREATE VIRTUAL TABLE {_FTS} USING fts5(body, content='{_FTS_VIEW}', "
        "content_rowid='id', columnsize=0, tokenize='trigram')"
    )
    for trigger in _SQLITE_TRIGGERS:
        op.execute(trigger)
    op.execute(f"INSERT INTO {_FTS}({_FTS}) VALUES ('rebuild')")


def _unescape_sqlite_parameters() -> None:
    """Parameters written before this revision hold non-ASCII text as \\u escapes (the JSON
    default then); the index reads the stored text, so store them as UTF-8 like new rows."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, parameters FROM workflow_tasks WHERE instr(parameters, '\\u') > 0")
    ).all()
    for task_id, text in rows:
        plain = json.dumps(json.loads(text), ensure_ascii=False)
        bind.execute(
            sa.text("UPDATE workflow_tasks SET parameters = :text WHERE id = :id"),
            {"text": plain, "id": task_id},
        )


def _upgrade_postgresql() -> None:
    op.execute(_PG_PRIORITIES)
    # A trusted extension since PostgreSQL 13: a database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(f"CREATE INDEX {_PG_INDEX} ON workflow_tasks USING gin ({_PG_TEXT} gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for suffix in ("update", "delete", "insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {_FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {_FTS}")
        op.execute(f"DROP VIEW IF EXISTS {_FTS_VIEW}")
    else:
        op.execute(f"DROP INDEX IF EXISTS {_PG_INDEX}")
    op.drop_index("ix_workflow_tasks_priority", "workflow_tasks")
    op.drop_column("workflow_tasks", "priority")
