"""Workflows as the read side shows them: a listing, one workflow at any stored version, its
history with a one-line summary per change, and the semantic diff of two versions.

A version is one distinct content of a workflow (a `workflow_history` entry); the current one
is the content the workflow has now. Content that returns to an earlier hash is not stored
again, so the current version need not be the newest entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from zuora_workflow_sync.catalog.pages import check_limit, decode_cursor, encode_cursor
from zuora_workflow_sync.catalog.references import (
    NotFoundError,
    resolve_entry,
    resolve_workflow,
)
from zuora_workflow_sync.domain.records import (
    HistoryEntry,
    Page,
    WorkflowFilter,
    WorkflowRecord,
    WorkflowSummary,
)
from zuora_workflow_sync.domain.workflow_diff import WorkflowDiff, diff_documents
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store.reads import WorkflowReader

_LISTING = "workflows"
_HISTORY = "history"


@dataclass(frozen=True, slots=True)
class Version:
    """One stored content of a workflow; `number` is its place in the history (None only when
    the history lacks the current content, which a store written by this product never does)."""

    number: int | None
    content_hash: str
    active_version: str | None
    seen_at: datetime | None
    run_id: int | None
    current: bool
    document: dict[str, Any]


@dataclass(frozen=True, slots=True)
class WorkflowVersion:
    """A workflow and one of its versions (the current one unless asked otherwise)."""

    record: WorkflowRecord
    version: Version
    history_length: int


@dataclass(frozen=True, slots=True)
class HistoryItem:
    entry: HistoryEntry
    current: bool
    summary: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """The diff of two versions of one workflow, `old` to `new`."""

    workflow: WorkflowSummary
    old: Version
    new: Version
    diff: WorkflowDiff


def list_workflows(
    engine: Engine, wanted: WorkflowFilter, *, limit: int, cursor: str | None = None
) -> Page[WorkflowSummary]:
    """Workflows in (customer id, Zuora id) order; `cursor` continues a previous page."""
    check_limit(limit)
    after = None if cursor is None else decode_cursor(cursor, _LISTING, 2)
    rows = WorkflowReader(engine).summaries(
        wanted, None if after is None else (after[0], after[1]), limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = (
        encode_cursor(_LISTING, [last.customer_id, last.zuora_workflow_id])
        if more and last is not None
        else None
    )
    return Page(rows, next_cursor)


def show_workflow(engine: Engine, reference: str, version: str | None = None) -> WorkflowVersion:
    """The workflow named by `reference`, at `version` (default: its current content)."""
    record = resolve_workflow(engine, reference)
    reader = WorkflowReader(engine)
    history = reader.history(record.summary.id)
    return WorkflowVersion(record, _version(reader, record, history, version), len(history))


def _version(
    reader: WorkflowReader, record: WorkflowRecord, history: list[HistoryEntry], wanted: str | None
) -> Version:
    if wanted is None:
        return _current(record, history)
    entry = resolve_entry(history, wanted, record.summary.id)
    if entry.content_hash == record.content_hash:
        return _current(record, history)
    document = reader.history_documents([entry.id])[entry.id]
    return _from_entry(entry, document, current=False)


def _current(record: WorkflowRecord, history: list[HistoryEntry]) -> Version:
    entries = [entry for entry in history if entry.content_hash == record.content_hash]
    if not entries:
        return Version(
            None,
            record.content_hash,
            record.summary.active_version,
            None,
            None,
            True,
            record.document,
        )
    return _from_entry(entries[-1], record.document, current=True)


def _from_entry(entry: HistoryEntry, document: dict[str, Any], *, current: bool) -> Version:
    return Version(
        entry.number,
        entry.content_hash,
        entry.active_version,
        entry.seen_at,
        entry.run_id,
        current,
        document,
    )


def workflow_history(
    engine: Engine, reference: str, *, limit: int, cursor: str | None = None
) -> tuple[WorkflowRecord, Page[HistoryItem]]:
    """The workflow's versions, oldest first, each with what changed from the one before."""
    check_limit(limit)
    record = resolve_workflow(engine, reference)
    reader = WorkflowReader(engine)
    history = reader.history(record.summary.id)
    offset = 0 if cursor is None else decode_cursor(cursor, _HISTORY, 1)[0]
    shown = history[offset : offset + limit]
    wanted = history[max(offset - 1, 0) : offset + limit]
    documents = reader.history_documents([entry.id for entry in wanted])
    items = [
        HistoryItem(
            entry,
            entry.content_hash == record.content_hash,
            _summary(documents, history, entry),
        )
        for entry in shown
    ]
    more = offset + limit < len(history)
    return record, Page(items, encode_cursor(_HISTORY, [offset + limit]) if more else None)


def _summary(
    documents: dict[int, dict[str, Any]], history: list[HistoryEntry], entry: HistoryEntry
) -> str:
    if entry.number == 1:
        return "first seen"
    previous = history[entry.number - 2]
    return diff_documents(documents[previous.id], documents[entry.id]).summary()


def compare_versions(
    engine: Engine, reference: str, old: str | None = None, new: str | None = None
) -> Comparison:
    """The diff from `old` to `new`; by default from the version before the current one to
    the current one, and with only `old`, from it to the current one."""
    record = resolve_workflow(engine, reference)
    reader = WorkflowReader(engine)
    history = reader.history(record.summary.id)
    new_version = _version(reader, record, history, new)
    if old is not None:
        old_version = _version(reader, record, history, old)
    else:
        old_version = _previous(reader, record, history, new_version)
    return Comparison(
        record.summary,
        old_version,
        new_version,
        diff_documents(old_version.document, new_version.document),
    )


def _previous(
    reader: WorkflowReader, record: WorkflowRecord, history: list[HistoryEntry], new: Version
) -> Version:
    """The newest entry before `new` with another content (for the current version, the
    newest with another content at all: after a revert to an earlier content that is the one
    it replaced)."""
    before = history if new.current or new.number is None else history[: new.number - 1]
    earlier = [entry for entry in before if entry.content_hash != new.content_hash]
    if not earlier:
        raise NotFoundError(
            f"workflow {record.summary.id} has no version before "
            f"{'the current one' if new.current else f'version {new.number}'} to compare with"
        )
    entry = earlier[-1]
    document = reader.history_documents([entry.id])[entry.id]
    return _from_entry(entry, document, current=entry.content_hash == record.content_hash)


def check_status(text: str | None) -> str | None:
    """A workflow status filter: Active or Inactive, in any letter case."""
    if text is None:
        return None
    for status in ("Active", "Inactive"):
        if text.strip().lower() == status.lower():
            return status
    raise ConfigurationError(f"a workflow status is Active or Inactive, got {text[:40]!r}")
