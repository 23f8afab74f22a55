"""Task search across every customer's live workflows: by customer, workflow, action type,
object, priority, workflow status and text (a substring of the task's name or parameters,
found through the database's trigram index)."""

from __future__ import annotations

from sqlalchemy import Engine

from zuora_workflow_sync.catalog.pages import check_limit, decode_cursor, encode_cursor
from zuora_workflow_sync.domain.records import Page, TaskFilter, TaskHit
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store.reads import WorkflowReader
from zuora_workflow_sync.store.search import checked_text

_SEARCH = "tasks"
_MAX_LABEL_CHARS = 200


def search_tasks(
    engine: Engine, wanted: TaskFilter, *, limit: int, cursor: str | None = None
) -> Page[TaskHit]:
    """Matching tasks in task id order; `cursor` continues a previous page."""
    check_limit(limit)
    _check_filter(wanted)
    after = None if cursor is None else decode_cursor(cursor, _SEARCH, 1)[0]
    rows = WorkflowReader(engine).search_tasks(wanted, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(_SEARCH, [rows[-1].id]) if more and rows else None)


def _check_filter(wanted: TaskFilter) -> None:
    if wanted.text is not None:
        checked_text(wanted.text)
    labels = [*wanted.action_types, wanted.object, wanted.priority, wanted.workflow_status]
    for label in labels:
        if label is not None and not 1 <= len(label) <= _MAX_LABEL_CHARS:
            raise ConfigurationError(f"a filter value is 1-{_MAX_LABEL_CHARS} characters")
