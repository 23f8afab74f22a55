"""The JSON shapes of the read side, shared by `--json` and the web app's `/api/...`.

Stable: keys are only ever added. Times are ISO 8601 UTC strings; a listing is
`{"items": [...], "next_cursor": str | null}`. docs/json.md documents each shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from zuora_workflow_sync.catalog.workflows import (
    Comparison,
    HistoryItem,
    Version,
    WorkflowVersion,
)
from zuora_workflow_sync.domain.export_document import (
    document_linkages,
    document_tasks,
    workflow_object,
)
from zuora_workflow_sync.domain.json_paths import ABSENT, ValueChange
from zuora_workflow_sync.domain.records import Page, TaskHit, WorkflowSummary
from zuora_workflow_sync.domain.task_graph import TaskGraph
from zuora_workflow_sync.domain.workflow_diff import LinkageRef, TaskChange, TaskRef

T = TypeVar("T")
JSON = dict[str, Any]


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def page_json(page: Page[T], item_json: Callable[[T], JSON], **extra: Any) -> JSON:
    return {
        **extra,
        "items": [item_json(item) for item in page.items],
        "next_cursor": page.next_cursor,
    }


def summary_json(summary: WorkflowSummary) -> JSON:
    return {
        "id": summary.id,
        "customer_id": summary.customer_id,
        "customer_name": summary.customer_name,
        "zuora_workflow_id": summary.zuora_workflow_id,
        "name": summary.name,
        "status": summary.status,
        "active_version": summary.active_version,
        "task_count": summary.task_count,
        "last_changed_at": iso(summary.last_changed_at),
        "last_seen_at": iso(summary.last_seen_at),
        "deleted_at": iso(summary.deleted_at),
    }


def workflow_json(shown: WorkflowVersion) -> JSON:
    record, version = shown.record, shown.version
    details = {
        **summary_json(record.summary),
        "description": record.description,
        "zuora_created_at": iso(record.zuora_created_at),
        "zuora_updated_at": iso(record.zuora_updated_at),
        "first_seen_at": iso(record.first_seen_at),
        "content_hash": record.content_hash,
        "customer_last_synced_at": iso(record.customer_last_synced_at),
    }
    return {
        "workflow": details,
        "version": {**version_json(version), "of": shown.history_length},
        "tasks": tasks_json(version.document),
        "linkages": [
            {
                "source_task_id": linkage.source_task_id,
                "target_task_id": linkage.target_task_id,
                "linkage_type": linkage.linkage_type,
            }
            for linkage in document_linkages(version.document)
        ],
    }


def tasks_json(document: dict[str, Any]) -> list[JSON]:
    return [
        {
            "id": task.id,
            "name": task.name,
            "action_type": task.action_type,
            "object": task.object,
            "call_type": task.call_type,
            "priority": task.priority,
        }
        for task in document_tasks(document)
    ]


def version_json(version: Version) -> JSON:
    name = workflow_object(version.document).get("name")
    return {
        "number": version.number,
        "content_hash": version.content_hash,
        "active_version": version.active_version,
        "name": name if isinstance(name, str) else None,
        "seen_at": iso(version.seen_at),
        "run_id": version.run_id,
        "current": version.current,
    }


def history_item_json(item: HistoryItem) -> JSON:
    entry = item.entry
    return {
        "number": entry.number,
        "content_hash": entry.content_hash,
        "active_version": entry.active_version,
        "seen_at": iso(entry.seen_at),
        "run_id": entry.run_id,
        "current": item.current,
        "summary": item.summary,
    }


def comparison_json(comparison: Comparison) -> JSON:
    diff = comparison.diff
    return {
        "workflow": summary_json(comparison.workflow),
        "from": version_json(comparison.old),
        "to": version_json(comparison.new),
        "equal": diff.equal,
        "summary": diff.summary(),
        "workflow_changes": changes_json(diff.workflow_changes),
        "tasks": {
            "added": [_task_ref(task) for task in diff.tasks_added],
            "removed": [_task_ref(task) for task in diff.tasks_removed],
            "changed": [_task_change(change) for change in diff.tasks_changed],
            "renumbered": diff.tasks_renumbered,
        },
        "linkages": {
            "added": [_linkage(linkage) for linkage in diff.linkages_added],
            "removed": [_linkage(linkage) for linkage in diff.linkages_removed],
        },
        "other_changes": changes_json(diff.other_changes),
    }


def changes_json(changes: Iterable[ValueChange]) -> list[JSON]:
    """Each change as `{"path", "old", "new"}`; a side that is absent has no key."""
    shaped = []
    for change in changes:
        item: JSON = {"path": change.path}
        if change.old is not ABSENT:
            item["old"] = change.old
        if change.new is not ABSENT:
            item["new"] = change.new
        shaped.append(item)
    return shaped


def _task_ref(task: TaskRef) -> JSON:
    return {"id": task.id, "name": task.name, "action_type": task.action_type}


def _task_change(change: TaskChange) -> JSON:
    return {
        "id": change.id,
        "old_id": change.old_id,
        "name": change.name,
        "changes": changes_json(change.changes),
    }


def _linkage(linkage: LinkageRef) -> JSON:
    return {
        "source_task_id": linkage.source,
        "target_task_id": linkage.target,
        "linkage_type": linkage.linkage_type,
    }


def task_hit_json(hit: TaskHit) -> JSON:
    return {
        "id": hit.id,
        "zuora_task_id": hit.zuora_task_id,
        "name": hit.name,
        "action_type": hit.action_type,
        "object": hit.object,
        "call_type": hit.call_type,
        "priority": hit.priority,
        "workflow_id": hit.workflow_id,
        "zuora_workflow_id": hit.zuora_workflow_id,
        "workflow_name": hit.workflow_name,
        "workflow_status": hit.workflow_status,
        "customer_id": hit.customer_id,
        "customer_name": hit.customer_name,
    }


def graph_json(graph: TaskGraph) -> JSON:
    return {
        "nodes": [
            {
                "key": node.key,
                "label": node.label,
                "action_type": node.action_type,
                "task_id": node.task_id,
                "missing": node.missing,
            }
            for node in graph.nodes
        ],
        "edges": [
            {"source": edge.source, "target": edge.target, "label": edge.label}
            for edge in graph.edges
        ],
    }
