"""Export documents (`GET /workflows/{id}/export`): tasks, a linkage graph, and new versions.

Keys follow the export example of zuora-api.md 3.6 exactly (snake_case, nulls included).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zuora_workflow_sync.simulator.task_catalog import EMAIL_KIND, KINDS, WEIGHTS, TaskKind

Document = dict[str, Any]
IdSource = Callable[[], int]
TASK_ID_STRIDE = 20


def task_ids_for(version_id: int) -> IdSource:
    """Task ids derived from the version id, so lazily built documents stay deterministic."""
    return itertools.count(version_id * TASK_ID_STRIDE).__next__


_BRANCH_EDGES = {
    "If": ("True", "False"),
    "Iterate": ("Iterate", "Success"),
    "Approval": ("Approve", "Reject"),
}


@dataclass(frozen=True)
class DefinitionFields:
    """The definition attributes an export's `workflow` object repeats."""

    name: str
    description: str
    callout_trigger: bool
    ondemand_trigger: bool
    scheduled_trigger: bool
    interval: str | None
    timezone: str | None
    priority: str


def workflow_object(fields: DefinitionFields, version_id: int, version: str) -> dict[str, Any]:
    return {
        "id": version_id,
        "name": fields.name,
        "description": fields.description,
        "parameters": {},
        "data": {},
        "original_workflow_id": None,
        "type": "Workflow::Setup",
        "ondemand_trigger": fields.ondemand_trigger,
        "callout_trigger": fields.callout_trigger,
        "scheduled_trigger": fields.scheduled_trigger,
        "interval": fields.interval,
        "timezone": fields.timezone,
        "status": None,
        "finished_at": None,
        "css": {"top": "40px", "left": "30px"},
        "notifications": {},
        "started_at": None,
        "call_type": None,
        "priority": fields.priority,
        "sync_trigger": False,
        "delete_ttl": 60,
        "task_summary": {},
        "version": version,
    }


def task_object(rng: random.Random, kind: TaskKind, task_id: int, index: int) -> dict[str, Any]:
    obj = rng.choice(("Account", "Invoice", "Subscription", "Usage")) if kind.has_object else None
    return {
        "id": task_id,
        "name": rng.choice(kind.names),
        "parameters": kind.build(rng, obj),
        "action_type": kind.action_type,
        "object": obj,
        "object_id": None,
        "call_type": kind.call_type,
        "task_id": None,
        "original_task_id": None,
        "original_workflow_id": None,
        "status": None,
        "error": None,
        "error_details": None,
        "process_id": None,
        "css": {"top": f"{160 + 120 * index}px", "left": f"{470 + 40 * (index % 3)}px"},
        "concurrent_limit": 9999999,
        "iterate_row_reference": None,
        "error_class": None,
        "object_batched_reference": None,
        "tags": rng.choice(([""], ["billing"], ["collections", "nightly"], [])),
        "priority": rng.choice(("Medium", "Medium", "High", "Low")),
        "assignment": [],
    }


def build_document(
    rng: random.Random, fields: DefinitionFields, version_id: int, version: str
) -> Document:
    """A fresh export document with 2-12 tasks linked as a rooted graph."""
    task_ids = task_ids_for(version_id)
    kinds = rng.choices(KINDS, weights=WEIGHTS, k=rng.randint(2, 12))
    tasks = [task_object(rng, kind, task_ids(), index) for index, kind in enumerate(kinds)]
    return {
        "workflow": workflow_object(fields, version_id, version),
        "tasks": tasks,
        "linkages": _linkages(rng, version_id, tasks),
    }


def _linkages(rng: random.Random, version_id: int, tasks: list[dict[str, Any]]) -> list[Any]:
    edges = [_edge(version_id, None, tasks[0]["id"], "Start")]
    free: dict[int, list[str]] = {0: _edge_types(tasks[0])}
    for index in range(1, len(tasks)):
        parent = rng.choice([p for p, types in free.items() if types])
        edges.append(
            _edge(version_id, tasks[parent]["id"], tasks[index]["id"], free[parent].pop(0))
        )
        free[index] = _edge_types(tasks[index])
    if len(tasks) >= 3 and rng.random() < 0.4:
        edges.append(_edge(version_id, tasks[0]["id"], tasks[-1]["id"], "Failure"))
    return edges


def _edge_types(task: dict[str, Any]) -> list[str]:
    return list(_BRANCH_EDGES.get(task["action_type"], ("Success", "Success")))


def _edge(version_id: int, source: int | None, target: int, kind: str) -> dict[str, Any]:
    return {
        "source_workflow_id": version_id,
        "source_task_id": source,
        "target_task_id": target,
        "linkage_type": kind,
    }


def derive_document(
    rng: random.Random, previous: Document, version_id: int, version: str
) -> Document:
    """The next version: the previous graph with new ids and one realistic change."""
    task_ids = task_ids_for(version_id)
    document: Document = json.loads(json.dumps(previous))
    mapping = {task["id"]: task_ids() for task in document["tasks"]}
    for task in document["tasks"]:
        task["id"] = mapping[task["id"]]
    for edge in document["linkages"]:
        edge["source_workflow_id"] = version_id
        edge["target_task_id"] = mapping[edge["target_task_id"]]
        if edge["source_task_id"] is not None:
            edge["source_task_id"] = mapping[edge["source_task_id"]]
    document["workflow"]["id"] = version_id
    document["workflow"]["version"] = version
    _mutate(rng, document, version_id, task_ids)
    return document


def _mutate(rng: random.Random, document: Document, version_id: int, task_ids: IdSource) -> None:
    tasks = document["tasks"]
    if len(tasks) < 12 and rng.random() < 0.5:
        task = task_object(rng, EMAIL_KIND, task_ids(), len(tasks))
        kind = _edge_types(tasks[-1])[0]
        document["linkages"].append(_edge(version_id, tasks[-1]["id"], task["id"], kind))
        tasks.append(task)
        return
    task = rng.choice(tasks)
    task["name"] = f"{task['name']} v{document['workflow']['version']}"
    task["tags"] = [*task["tags"], "changed"]
