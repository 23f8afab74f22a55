"""Reading an export document (`{"workflow": ..., "tasks": [...], "linkages": [...]}`) leniently.

Stored documents passed the client's strict checks when they were synced; here a missing or
odd field only leaves its value empty, so any stored version can be shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The linkage types of an export (zuora-api.md 3.6).
LINKAGE_TYPES = ("Start", "Success", "Failure", "Iterate", "True", "False", "Approve", "Reject")


@dataclass(frozen=True, slots=True)
class DocumentTask:
    """One task of an export, with the fields the read side shows."""

    id: int
    name: str | None
    action_type: str | None
    object: str | None
    call_type: str | None
    priority: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class DocumentLinkage:
    """One edge of the task graph; `source_task_id` None is the Start edge."""

    source_task_id: int | None
    target_task_id: int | None
    linkage_type: str | None


def workflow_object(document: Mapping[str, Any]) -> Mapping[str, Any]:
    value = document.get("workflow")
    return value if isinstance(value, Mapping) else {}


def document_tasks(document: Mapping[str, Any]) -> list[DocumentTask]:
    """The tasks in document order; entries without an integer id are skipped."""
    return [
        DocumentTask(
            id=raw["id"],
            name=_text(raw.get("name")),
            action_type=_text(raw.get("action_type")),
            object=_text(raw.get("object")),
            call_type=_text(raw.get("call_type")),
            priority=_text(raw.get("priority")),
            raw=raw,
        )
        for raw in _entries(document, "tasks")
        if _is_id(raw.get("id"))
    ]


def document_linkages(document: Mapping[str, Any]) -> list[DocumentLinkage]:
    return [
        DocumentLinkage(
            source_task_id=_id_or_none(raw.get("source_task_id")),
            target_task_id=_id_or_none(raw.get("target_task_id")),
            linkage_type=_text(raw.get("linkage_type")),
        )
        for raw in _entries(document, "linkages")
    ]


def _entries(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = document.get(key)
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, Mapping)]


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _id_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)
