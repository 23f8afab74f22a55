"""Text search over workflow tasks with each database's own trigram index.

SQLite: an FTS5 table with the trigram tokenizer whose content is a view over `workflow_tasks`
(the text lives once), fed by triggers. PostgreSQL: a `pg_trgm` GIN index on an expression of the
task's name and parameters. Either way the index changes inside the transaction that writes
the tasks, the sync's own. Both match a case-insensitive substring of at least three
characters (a trigram index cannot narrow a shorter one). The DDL is created by migration 0004.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, column, literal_column, select, table

from zuora_workflow_sync.errors import ConfigurationError

MIN_TEXT_CHARS = 3
MAX_TEXT_CHARS = 200
SQLITE_TABLE = "workflow_tasks_search"
POSTGRESQL_INDEX = "ix_workflow_tasks_search_text"
# The text a task is searched by: its name, a newline, its parameters as JSON text. The same
# expression is in the PostgreSQL index, so it is literal SQL (a bound '' would not match it).
POSTGRESQL_TEXT = (
    "(coalesce(workflow_tasks.name, '') || chr(10) || "
    "coalesce(CAST(workflow_tasks.parameters AS TEXT), ''))"
)


def is_search_object(name: str | None) -> bool:
    """True for the tables and indexes of this module (migrations own them, not the metadata)."""
    return name is not None and (name.startswith(SQLITE_TABLE) or name == POSTGRESQL_INDEX)


def checked_text(text: str) -> str:
    """The search text, or a ConfigurationError saying why a trigram index cannot take it."""
    if len(text) < MIN_TEXT_CHARS:
        raise ConfigurationError(f"--text needs at least {MIN_TEXT_CHARS} characters")
    if len(text) > MAX_TEXT_CHARS:
        raise ConfigurationError(f"--text takes at most {MAX_TEXT_CHARS} characters")
    if any(ord(char) < 32 for char in text):
        raise ConfigurationError("--text cannot hold control characters")
    return text


def task_text_matches(dialect: str, task_id: Any, text: str) -> ColumnElement[bool]:
    """A condition on `task_id` (workflow_tasks.id): the task's text contains `text`."""
    if dialect == "sqlite":
        # An FTS5 string: a phrase of trigrams, which is a substring match.
        phrase = '"' + text.replace('"', '""') + '"'
        fts = table(SQLITE_TABLE, column("rowid"))
        matches: ColumnElement[bool] = literal_column(SQLITE_TABLE).op("MATCH")(phrase)
        matching: Select[Any] = select(fts.c.rowid).where(matches)
        condition: ColumnElement[bool] = task_id.in_(matching)
        return condition
    pattern = "%" + escape_like(text) + "%"
    return literal_column(POSTGRESQL_TEXT).ilike(pattern, escape="\\")


def escape_like(text: str) -> str:
    """`text` as a literal inside a LIKE pattern whose escape character is a backslash."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
