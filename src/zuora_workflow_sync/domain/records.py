"""What the read side returns: small typed records of what was synced, and their filters.

Built by `store.reads`, composed by `catalog`, shown by the CLI and the web app alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; `next_cursor` fetches the next one (None: this was the last)."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowFilter:
    """Which workflows a listing shows; every field narrows it, None means any."""

    customer_id: int | None = None
    status: str | None = None
    search: str | None = None
    changed_since: datetime | None = None
    include_deleted: bool = False


@dataclass(frozen=True, slots=True)
class WorkflowSummary:
    """One workflow of a listing; `id` is the local id, `zuora_workflow_id` Zuora's."""

    id: int
    customer_id: int
    customer_name: str
    zuora_workflow_id: int
    name: str
    status: str | None
    active_version: str | None
    task_count: int
    last_changed_at: datetime
    last_seen_at: datetime
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    """One stored workflow with its current export document."""

    summary: WorkflowSummary
    description: str | None
    zuora_created_at: datetime | None
    zuora_updated_at: datetime | None
    first_seen_at: datetime
    content_hash: str
    customer_last_synced_at: datetime | None
    document: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One distinct content of a workflow; `number` counts from 1, the oldest."""

    id: int
    number: int
    content_hash: str
    active_version: str | None
    seen_at: datetime
    run_id: int | None


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks a search returns, across customers; each field narrows it."""

    customer_id: int | None = None
    workflow_id: int | None = None
    action_types: tuple[str, ...] = ()
    object: str | None = None
    priority: str | None = None
    workflow_status: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class TaskHit:
    """A task found by a search, with the workflow and customer it belongs to."""

    id: int
    zuora_task_id: int
    name: str | None
    action_type: str | None
    object: str | None
    call_type: str | None
    priority: str | None
    workflow_id: int
    zuora_workflow_id: int
    workflow_name: str
    workflow_status: str | None
    customer_id: int
    customer_name: str
