"""The task graph of a workflow, from its export's linkages: a Start node, one node per task,
and one labelled edge per linkage (Success, Failure, True, False, Iterate, Approve, Reject).

Pure data; `catalog.graph` renders it as Mermaid or DOT text and the web app as SVG.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from zuora_workflow_sync.domain.export_document import document_linkages, document_tasks

START_NODE = "start"


@dataclass(frozen=True, slots=True)
class GraphNode:
    """`key` is `start` or `task-<id>`; `task_id` None for the Start node."""

    key: str
    label: str
    action_type: str | None
    task_id: int | None
    missing: bool = False


@dataclass(frozen=True, slots=True)
class GraphEdge:
    source: str
    target: str
    label: str


@dataclass(frozen=True, slots=True)
class TaskGraph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]


def task_key(task_id: int) -> str:
    return f"task-{task_id}"


def build_graph(document: Mapping[str, Any]) -> TaskGraph:
    """Nodes in document order after Start; a linkage to a task the export lacks gets a node
    marked `missing`, so the drawing shows the broken edge instead of hiding it."""
    nodes = [GraphNode(START_NODE, "Start", None, None)]
    known: set[int] = set()
    for task in document_tasks(document):
        if task.id not in known:
            known.add(task.id)
            label = task.name or f"task {task.id}"
            nodes.append(GraphNode(task_key(task.id), label, task.action_type, task.id))
    edges = []
    for linkage in document_linkages(document):
        ends = [linkage.source_task_id, linkage.target_task_id]
        for task_id in ends:
            if task_id is not None and task_id not in known:
                known.add(task_id)
                nodes.append(GraphNode(task_key(task_id), f"task {task_id}", None, task_id, True))
        if linkage.target_task_id is None:
            continue
        source = START_NODE if linkage.source_task_id is None else task_key(linkage.source_task_id)
        label = linkage.linkage_type or ""
        edges.append(GraphEdge(source, task_key(linkage.target_task_id), label))
    return TaskGraph(nodes, edges)
