"""`workflow-sync workflows list|show|export|graph` over data a real sync of the simulator wrote,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from tests.synced import TENANTS, Synced, zuora_export
from zuora_workflow_sync.domain.export_document import document_linkages, document_tasks


def _all_listed(synced: Synced, *args: str) -> list[dict[str, object]]:
    """Every item of a paginated listing, following next_cursor."""
    items: list[dict[str, object]] = []
    cursor: list[str] = []
    while True:
        page = synced.json("workflows", "list", *args, *cursor)
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        cursor = ["--cursor", page["next_cursor"]]


def test_list_shows_every_synced_workflow_when_unfiltered(synced: Synced) -> None:
    listed = _all_listed(synced, "--limit", "1000")
    expected = {
        (customer.id, workflow["id"], workflow["name"])
        for customer, tenant in zip(synced.customers, TENANTS, strict=True)
        for workflow in synced.admin.workflows(tenant)
    }
    assert {(w["customer_id"], w["zuora_workflow_id"], w["name"]) for w in listed} == expected
    first = listed[0]
    assert set(first) == {
        *("id", "customer_id", "customer_name", "zuora_workflow_id", "name", "status"),
        *("active_version", "task_count", "last_changed_at", "last_seen_at", "deleted_at"),
    }


def test_pages_cover_the_listing_once_when_followed_by_cursor(synced: Synced) -> None:
    whole = _all_listed(synced, "--limit", "1000")
    paged = _all_listed(synced, "--limit", "5")
    assert [w["id"] for w in paged] == [w["id"] for w in whole]
    assert len(whole) > 5


def test_list_narrows_to_one_customer_when_named_by_id_or_exact_name(synced: Synced) -> None:
    second = synced.customers[1]
    by_id = synced.json("workflows", "list", "--customer", str(second.id), "--limit", "1000")
    by_name = synced.json("workflows", "list", "--customer", second.name, "--limit", "1000")
    assert by_id == by_name
    assert {w["customer_id"] for w in by_id["items"]} == {second.id}
    assert len(by_id["items"]) == len(synced.admin.workflows(TENANTS[1]))


def test_list_filters_by_status_search_and_change_date_when_given(synced: Synced) -> None:
    everything = synced.json("workflows", "list", "--limit", "1000")["items"]
    inactive = synced.json("workflows", "list", "--status", "inactive", "--limit", "1000")
    assert [w["id"] for w in inactive["items"]] == [
        w["id"] for w in everything if w["status"] == "Inactive"
    ]
    word = str(everything[0]["name"]).split()[0].upper()
    found = synced.json("workflows", "list", "--search", word, "--limit", "1000")["items"]
    assert {w["id"] for w in found} == {
        w["id"] for w in everything if word.lower() in str(w["name"]).lower()
    }
    later = synced.cli("workflows", "list", "--changed-since", "2999-01-01")
    assert later.exit_code == 0 and later.stdout.strip() == "No workflows match."


def test_deleted_workflow_is_listed_only_with_include_deleted_when_gone_from_zuora(
    synced: Synced,
) -> None:
    gone = synced.admin.workflows(TENANTS[0])[0]["id"]
    synced.admin.delete_workflow(TENANTS[0], gone)
    synced.sync()
    customer = str(synced.customers[0].id)
    live = synced.json("workflows", "list", "--customer", customer, "--limit", "1000")["items"]
    assert gone not in {w["zuora_workflow_id"] for w in live}
    kept = synced.json(
        "workflows", "list", "--customer", customer, "--include-deleted", "--limit", "1000"
    )["items"]
    (tombstone,) = [w for w in kept if w["zuora_workflow_id"] == gone]
    assert tombstone["deleted_at"] is not None


def test_show_gives_general_information_tasks_and_linkages_when_named_either_way(
    synced: Synced,
) -> None:
    customer = synced.customers[1]
    zuora_id = synced.admin.workflows(TENANTS[1])[0]["id"]
    by_reference = synced.json("workflows", "show", f"{customer.name}:{zuora_id}")
    by_id = synced.json("workflows", "show", str(by_reference["workflow"]["id"]))
    assert by_reference == by_id
    document = zuora_export(synced.credentials(TENANTS[1]), zuora_id)
    workflow = by_id["workflow"]
    assert (workflow["zuora_workflow_id"], workflow["customer_name"]) == (zuora_id, customer.name)
    assert workflow["customer_last_synced_at"] is not None
    assert [task["id"] for task in by_id["tasks"]] == [t["id"] for t in document["tasks"]]
    assert [task["action_type"] for task in by_id["tasks"]] == [
        t["action_type"] for t in document["tasks"]
    ]
    assert by_id["linkages"] == [
        {key: link[key] for key in ("source_task_id", "target_task_id", "linkage_type")}
        for link in document["linkages"]
    ]
    assert by_id["version"]["current"] and by_id["version"]["number"] == 1


def test_show_table_names_the_workflow_and_its_tasks_when_printed(synced: Synced) -> None:
    result = synced.cli("workflows", "show", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Workflow 1: ")
    shown = synced.json("workflows", "show", "1")
    assert f"Tasks ({len(shown['tasks'])})" in result.stdout
    assert f"Linkages ({len(shown['linkages'])})" in result.stdout


def test_export_is_what_zuora_sent_when_printed_or_written(synced: Synced, tmp_path: Path) -> None:
    zuora_id = synced.admin.workflows(TENANTS[0])[1]["id"]
    reference = f"{synced.customers[0].id}:{zuora_id}"
    printed = synced.cli("workflows", "export", reference)
    assert printed.exit_code == 0, printed.stderr
    assert json.loads(printed.stdout) == zuora_export(synced.credentials(TENANTS[0]), zuora_id)
    assert (
        printed.stdout
        == json.dumps(json.loads(printed.stdout), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    )
    target = tmp_path / "out" / "workflow.json"
    written = synced.cli("workflows", "export", reference, "-o", str(target))
    assert written.exit_code == 0, written.stderr
    assert target.read_text(encoding="utf-8") == printed.stdout
    assert not [p for p in target.parent.iterdir() if p.name != "workflow.json"]


def test_graph_has_start_one_node_per_task_and_one_edge_per_linkage_when_drawn(
    synced: Synced,
) -> None:
    document = json.loads(synced.cli("workflows", "export", "2").stdout)
    tasks, linkages = document_tasks(document), document_linkages(document)
    mermaid = synced.cli("workflows", "graph", "2").stdout.splitlines()
    assert mermaid[0] == "flowchart TD"
    assert sum(1 for line in mermaid if "-->" in line) == len(linkages)
    assert sum(1 for line in mermaid if line.startswith("  task_") and "-->" not in line) == len(
        tasks
    )
    assert '  start(("Start"))' in mermaid
    dot = synced.cli("workflows", "graph", "2", "--format", "dot").stdout
    assert dot.count(" -> ") == len(linkages)
    for linkage in linkages:
        if linkage.source_task_id is None:
            assert f'"start" -> "task-{linkage.target_task_id}"' in dot
        else:
            edge = f'"task-{linkage.source_task_id}" -> "task-{linkage.target_task_id}"'
            assert f'{edge} [label="{linkage.linkage_type}"]' in dot
    graph = synced.json("workflows", "graph", "2")
    assert len(graph["nodes"]) == len(tasks) + 1 and len(graph["edges"]) == len(linkages)


def test_unknown_references_get_one_line_and_exit_1_when_named(synced: Synced) -> None:
    for args, fragment in (
        (("workflows", "show", "999999"), "no workflow with id 999999"),
        (("workflows", "show", "nobody:1000"), "no customer with id or name 'nobody'"),
        (("workflows", "show", f"{synced.customers[0].id}:1"), "has no workflow with Zuora id 1"),
        (("workflows", "show", "abc"), "a workflow is a local id or CUSTOMER:ZUORA_WORKFLOW_ID"),
        (("workflows", "show", "1", "--version", "99"), "no version 99"),
        (("workflows", "list", "--status", "Paused"), "Active or Inactive"),
        (("workflows", "list", "--changed-since", "yesterday"), "--changed-since takes a date"),
        (("workflows", "list", "--cursor", "bogus!"), "invalid --cursor"),
        (("workflows", "graph", "1", "--format", "svg"), "--format is mermaid or dot"),
        (("workflows", "list", "--customer", "٣"), "no customer with id or name"),
    ):
        result = synced.cli(*args)
        assert result.exit_code == 1, (args, result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], args
        assert result.stdout == ""
