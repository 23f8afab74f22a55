"""A semantic diff of two export documents of one workflow: its fields, its tasks by task id
(with the JSON paths of what changed), and its linkages.

Zuora gives a new version's tasks new ids, so tasks are paired by id first, then by their
place in the graph (the path of linkage types from Start) and action type, then by a unique
name and action type; a pair whose ids differ is "renumbered", not removed and added. The ids a
pair maps are translated before comparing, so renumbering alone is no change.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from zuora_workflow_sync.domain.export_document import (
    DocumentTask,
    document_linkages,
    document_tasks,
    workflow_object,
)
from zuora_workflow_sync.domain.json_paths import ABSENT, ValueChange, value_changes

__all__ = ["ABSENT", "LinkageRef", "TaskChange", "TaskRef", "WorkflowDiff", "diff_documents"]

# Fields that hold task ids, translated through the pairing before tasks are compared.
_TASK_ID_FIELDS = ("id", "task_id")
_TOP_LEVEL_PARTS = ("workflow", "tasks", "linkages")


@dataclass(frozen=True, slots=True)
class TaskRef:
    id: int
    name: str | None
    action_type: str | None


@dataclass(frozen=True, slots=True)
class TaskChange:
    """A task present on both sides; `old_id` differs from `id` when it was renumbered."""

    id: int
    old_id: int
    name: str | None
    changes: tuple[ValueChange, ...]


@dataclass(frozen=True, slots=True)
class LinkageRef:
    """An edge; `source` None is Start. Ids are the newer side's (translated)."""

    source: int | None
    target: int | None
    linkage_type: str | None


@dataclass(frozen=True, slots=True)
class WorkflowDiff:
    workflow_changes: tuple[ValueChange, ...]
    tasks_added: tuple[TaskRef, ...]
    tasks_removed: tuple[TaskRef, ...]
    tasks_changed: tuple[TaskChange, ...]
    tasks_renumbered: int
    linkages_added: tuple[LinkageRef, ...]
    linkages_removed: tuple[LinkageRef, ...]
    other_changes: tuple[ValueChange, ...]

    @property
    def equal(self) -> bool:
        return not (
            self.workflow_changes
            or self.tasks_added
            or self.tasks_removed
            or self.tasks_changed
            or self.linkages_added
            or self.linkages_removed
            or self.other_changes
        )

    def summary(self) -> str:
        """One line: `+2 tasks, 1 task changed, renamed` (`no change` when equal)."""
        parts = [
            _count("+", len(self.tasks_added), "task"),
            _count("-", len(self.tasks_removed), "task"),
            _count("", len(self.tasks_changed), "task", " changed"),
            _count("+", len(self.linkages_added), "linkage"),
            _count("-", len(self.linkages_removed), "linkage"),
        ]
        parts.extend(self._workflow_parts())
        found = [part for part in parts if part]
        return ", ".join(found) if found else "no change"

    def _workflow_parts(self) -> Iterator[str]:
        by_path = {change.path: change for change in self.workflow_changes}
        if "name" in by_path:
            yield "renamed"
        version = by_path.get("version")
        if version is not None:
            yield f"version {_short(version.old)} -> {_short(version.new)}"
        others = len([path for path in by_path if path not in ("name", "version", "id")])
        others += len(self.other_changes)
        if others:
            yield _count("", others, "field", " changed")


def _count(sign: str, count: int, noun: str, suffix: str = "") -> str:
    if not count:
        return ""
    return f"{sign}{count} {noun}{'' if count == 1 else 's'}{suffix}"


def _short(value: object) -> str:
    return "(absent)" if value is ABSENT else str(value)


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any]) -> WorkflowDiff:
    """What changed from `old` to `new` (both export documents)."""
    old_tasks = {task.id: task for task in document_tasks(old)}
    new_tasks = {task.id: task for task in document_tasks(new)}
    pairs = _pair_tasks(old, new, old_tasks, new_tasks)
    paired_new = set(pairs.values())
    old_edges = Counter(_edges(old, pairs))
    new_edges = Counter(_edges(new, {}))
    return WorkflowDiff(
        workflow_changes=tuple(value_changes(workflow_object(old), workflow_object(new))),
        tasks_added=tuple(_ref(t) for i, t in new_tasks.items() if i not in paired_new),
        tasks_removed=tuple(_ref(t) for i, t in old_tasks.items() if i not in pairs),
        tasks_changed=tuple(_changed_tasks(pairs, old_tasks, new_tasks)),
        tasks_renumbered=sum(1 for old_id, new_id in pairs.items() if old_id != new_id),
        linkages_added=tuple(LinkageRef(*edge) for edge in (new_edges - old_edges).elements()),
        linkages_removed=tuple(LinkageRef(*edge) for edge in (old_edges - new_edges).elements()),
        other_changes=tuple(_other_changes(old, new)),
    )


def _ref(task: DocumentTask) -> TaskRef:
    return TaskRef(task.id, task.name, task.action_type)


Key = tuple[str | None, str | None]


def _pair_tasks(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    old_tasks: dict[int, DocumentTask],
    new_tasks: dict[int, DocumentTask],
) -> dict[int, int]:
    """Old task id -> new task id, for every task found on both sides."""
    pairs = {task_id: task_id for task_id in old_tasks if task_id in new_tasks}
    old_paths, new_paths = _graph_paths(old), _graph_paths(new)
    by_place = (
        {task.id: (old_paths.get(task.id), task.action_type) for task in old_tasks.values()},
        {task.id: (new_paths.get(task.id), task.action_type) for task in new_tasks.values()},
    )
    by_name = (
        {task.id: (task.name, task.action_type) for task in old_tasks.values()},
        {task.id: (task.name, task.action_type) for task in new_tasks.values()},
    )
    for old_keys, new_keys in (by_place, by_name):
        paired_new = set(pairs.values())
        pairs.update(
            _unique_pairs(
                {i: key for i, key in old_keys.items() if i not in pairs},
                {i: key for i, key in new_keys.items() if i not in paired_new},
            )
        )
    return pairs


def _unique_pairs(old_keys: dict[int, Key], new_keys: dict[int, Key]) -> dict[int, int]:
    """Ids whose key is known and held by exactly one task on each side."""
    old_counts, new_counts = Counter(old_keys.values()), Counter(new_keys.values())
    new_by_key = {key: task_id for task_id, key in new_keys.items()}
    return {
        task_id: new_by_key[key]
        for task_id, key in old_keys.items()
        if key[0] is not None and old_counts[key] == 1 and new_counts.get(key) == 1
    }


def _graph_paths(document: Mapping[str, Any]) -> dict[int, str]:
    """Each reachable task's first path from Start (`Start/Success/True#2`), breadth first.

    A path names the place of a task in the workflow independently of its id; `#n` tells
    apart several edges of one type from one task."""
    outgoing: dict[int | None, list[tuple[str, int]]] = {}
    for linkage in document_linkages(document):
        if linkage.target_task_id is not None:
            edges = outgoing.setdefault(linkage.source_task_id, [])
            edges.append((linkage.linkage_type or "", linkage.target_task_id))
    paths: dict[int, str] = {}
    queue: deque[tuple[int | None, str]] = deque([(None, "")])
    while queue:
        source, path = queue.popleft()
        seen: Counter[str] = Counter()
        for kind, target in outgoing.get(source, []):
            seen[kind] += 1
            if target not in paths:
                step = kind if seen[kind] == 1 else f"{kind}#{seen[kind]}"
                paths[target] = f"{path}/{step}" if path else step
                queue.append((target, paths[target]))
    return paths


def _changed_tasks(
    pairs: dict[int, int], old_tasks: dict[int, DocumentTask], new_tasks: dict[int, DocumentTask]
) -> Iterator[TaskChange]:
    for old_id, new_id in pairs.items():
        old_raw = _translated(old_tasks[old_id].raw, pairs)
        new_task = new_tasks[new_id]
        changes = tuple(value_changes(old_raw, new_task.raw))
        if changes:
            yield TaskChange(new_id, old_id, new_task.name, changes)


def _translated(raw: Mapping[str, Any], pairs: dict[int, int]) -> dict[str, Any]:
    """The task as it reads once its own id and its parent's are the newer side's."""
    translated = dict(raw)
    for key in _TASK_ID_FIELDS:
        value = translated.get(key)
        if isinstance(value, int) and value in pairs:
            translated[key] = pairs[value]
    return translated


Edge = tuple[int | None, int | None, str | None]


def _edges(document: Mapping[str, Any], pairs: dict[int, int]) -> Iterator[Edge]:
    """The document's linkages as (source, target, type), ids translated through `pairs`;
    `source_workflow_id` is left out: it is the version's own id."""
    for linkage in document_linkages(document):
        source, target = linkage.source_task_id, linkage.target_task_id
        yield (
            pairs.get(source, source) if source is not None else None,
            pairs.get(target, target) if target is not None else None,
            linkage.linkage_type,
        )


def _other_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[ValueChange]:
    """Top-level keys beside workflow, tasks and linkages (an export has none today)."""
    rest_old = {key: value for key, value in old.items() if key not in _TOP_LEVEL_PARTS}
    rest_new = {key: value for key, value in new.items() if key not in _TOP_LEVEL_PARTS}
    yield from value_changes(rest_old, rest_new)
