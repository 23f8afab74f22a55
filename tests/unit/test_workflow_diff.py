"""The semantic diff of two export documents, the JSON paths it names, and the task graph's
text renderings (pure functions)."""

from __future__ import annotations

import copy
from typing import Any

from zuora_workflow_sync.catalog.graph import to_dot, to_mermaid
from zuora_workflow_sync.domain.json_paths import ABSENT, ValueChange, value_changes
from zuora_workflow_sync.domain.task_graph import build_graph
from zuora_workflow_sync.domain.workflow_diff import LinkageRef, diff_documents


def task(task_id: int, name: str, action_type: str = "Email", **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "name": name, "action_type": action_type, "parameters": {}, **fields}


def link(source: int | None, target: int, kind: str) -> dict[str, Any]:
    return {
        "source_workflow_id": 9,
        "source_task_id": source,
        "target_task_id": target,
        "linkage_type": kind,
    }


def document(
    tasks: list[dict[str, Any]], links: list[dict[str, Any]], **workflow: Any
) -> dict[str, Any]:
    return {
        "workflow": {"id": 9, "name": "Dunning", "version": "0.0.1", **workflow},
        "tasks": tasks,
        "linkages": links,
    }


BASE = document(
    [
        task(1, "Is overdue?", "If"),
        task(2, "Email", parameters={"to": ["a@x.io"]}),
        task(3, "Log", "Callout"),
    ],
    [link(None, 1, "Start"), link(1, 2, "True"), link(1, 3, "False")],
)


def renumbered(doc: dict[str, Any], offset: int) -> dict[str, Any]:
    """The same workflow as Zuora exports a new version of it: every task id changed."""
    new = copy.deepcopy(doc)
    for item in new["tasks"]:
        item["id"] += offset
    for edge in new["linkages"]:
        edge["target_task_id"] += offset
        if edge["source_task_id"] is not None:
            edge["source_task_id"] += offset
    new["workflow"]["id"] += offset
    return new


def test_documents_are_equal_when_identical() -> None:
    diff = diff_documents(BASE, copy.deepcopy(BASE))
    assert diff.equal and diff.summary() == "no change"


def test_renumbered_tasks_are_paired_not_added_when_a_new_version_changes_ids() -> None:
    new = renumbered(BASE, 100)
    new["workflow"]["version"] = "0.0.2"
    diff = diff_documents(BASE, new)
    assert diff.tasks_added == diff.tasks_removed == ()
    assert diff.tasks_changed == ()
    assert diff.linkages_added == diff.linkages_removed == ()
    assert diff.tasks_renumbered == 3
    assert diff.summary() == "version 0.0.1 -> 0.0.2"


def test_changed_parameters_are_named_by_path_when_a_task_changes() -> None:
    new = renumbered(BASE, 100)
    new["tasks"][1]["parameters"] = {"to": ["a@x.io", "b@x.io"], "subject": "Late"}
    new["tasks"][1]["name"] = "Email twice"
    diff = diff_documents(BASE, new)
    (change,) = diff.tasks_changed
    assert (change.id, change.old_id) == (102, 2)
    assert change.changes == (
        ValueChange("name", "Email", "Email twice"),
        ValueChange("parameters.subject", ABSENT, "Late"),
        ValueChange("parameters.to[1]", ABSENT, "b@x.io"),
    )
    assert diff.summary() == "1 task changed"


def test_added_and_removed_tasks_and_linkages_are_listed_when_the_graph_changes() -> None:
    new = copy.deepcopy(BASE)
    new["tasks"] = [t for t in new["tasks"] if t["id"] != 3] + [task(4, "Wait", "Delay")]
    new["linkages"] = [link(None, 1, "Start"), link(1, 2, "True"), link(2, 4, "Success")]
    new["workflow"]["name"] = "Dunning v2"
    diff = diff_documents(BASE, new)
    assert [t.id for t in diff.tasks_added] == [4]
    assert [t.id for t in diff.tasks_removed] == [3]
    assert diff.linkages_added == (LinkageRef(2, 4, "Success"),)
    assert diff.linkages_removed == (LinkageRef(1, 3, "False"),)
    assert diff.summary() == "+1 task, -1 task, +1 linkage, -1 linkage, renamed"


def test_tasks_pair_by_place_in_the_graph_when_names_repeat() -> None:
    twins = document(
        [task(1, "Check", "If"), task(2, "Send", "Email"), task(3, "Send", "Email")],
        [link(None, 1, "Start"), link(1, 2, "True"), link(1, 3, "False")],
    )
    new = renumbered(twins, 10)
    new["tasks"][2]["parameters"] = {"to": ["late@x.io"]}  # the False branch's email
    diff = diff_documents(twins, new)
    (change,) = diff.tasks_changed
    assert (change.old_id, change.id) == (3, 13)


def test_paths_quote_keys_that_are_not_identifiers_when_named() -> None:
    changes = list(value_changes({"a b": {"x.y": [1, True]}}, {"a b": {"x.y": [1, 1]}}))
    assert changes == [ValueChange('["a b"]["x.y"][1]', True, 1)]


def test_graph_text_escapes_labels_when_names_hold_syntax() -> None:
    doc = document(
        [task(1, 'Say "hi"]; drop', "Email"), task(2, "a\\b <br/> #x", "Callout")],
        [link(None, 1, "Start"), link(1, 2, "Success"), link(2, 77, "Failure")],
    )
    graph = build_graph(doc)
    assert [node.key for node in graph.nodes] == ["start", "task-1", "task-2", "task-77"]
    assert graph.nodes[-1].missing
    mermaid = to_mermaid(graph)
    assert 'task_1["Say #quot;hi#quot;]; drop<br/>Email"]' in mermaid
    assert "#lt;br/#gt; #35;x<br/>Callout" in mermaid
    dot = to_dot(graph)
    assert '"task-1" [label="Say \\"hi\\"]; drop\\nEmail", shape=box];' in dot
    assert '"task-2" [label="a\\\\b <br/> #x\\nCallout", shape=box];' in dot
    assert '"task-2" -> "task-77" [label="Failure"];' in dot
