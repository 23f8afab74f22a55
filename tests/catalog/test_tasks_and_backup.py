"""`workflow-sync tasks search` (filters and the trigram text index, kept in step by the sync) and
`workflow-sync backup` (only changed files rewritten, deleted workflows' files removed), on
SQLite and on PostgreSQL, over what a real sync of the simulator wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.synced import TENANTS, Synced, zuora_export


def _exports(synced: Synced) -> dict[tuple[int, int], dict[str, Any]]:
    """(customer id, Zuora workflow id) -> the export the simulator serves now."""
    return {
        (customer.id, workflow["id"]): zuora_export(synced.credentials(tenant), workflow["id"])
        for customer, tenant in zip(synced.customers, TENANTS, strict=True)
        for workflow in synced.admin.workflows(tenant)
    }


def _task_text(task: dict[str, Any]) -> str:
    return (
        f"{task.get('name') or ''}\n{json.dumps(task.get('parameters') or {}, ensure_ascii=False)}"
    )


def _search(synced: Synced, *args: str) -> set[tuple[int, int, int]]:
    """(customer id, Zuora workflow id, Zuora task id) of every hit, all pages followed."""
    hits: set[tuple[int, int, int]] = set()
    cursor: list[str] = []
    while True:
        page = synced.json("tasks", "search", *args, "--limit", "7", *cursor)
        hits |= {
            (h["customer_id"], h["zuora_workflow_id"], h["zuora_task_id"]) for h in page["items"]
        }
        if page["next_cursor"] is None:
            return hits
        cursor = ["--cursor", page["next_cursor"]]


def _expected(
    exports: dict[tuple[int, int], dict[str, Any]], keep: Any
) -> set[tuple[int, int, int]]:
    return {
        (customer_id, zuora_id, task["id"])
        for (customer_id, zuora_id), document in exports.items()
        for task in document["tasks"]
        if keep(task)
    }


def test_action_type_search_finds_every_such_task_when_across_customers(synced: Synced) -> None:
    exports = _exports(synced)
    callouts = _expected(exports, lambda task: task["action_type"] == "Callout")
    assert callouts and {hit[0] for hit in callouts} == {c.id for c in synced.customers}
    assert _search(synced, "--action-type", "Callout") == callouts
    both = _search(synced, "--action-type", "Callout", "--action-type", "Email")
    assert both == _expected(exports, lambda task: task["action_type"] in ("Callout", "Email"))


def test_object_priority_and_customer_narrow_the_search_when_combined(synced: Synced) -> None:
    exports = _exports(synced)
    second = synced.customers[1]
    expected = {
        hit
        for hit in _expected(
            exports, lambda task: task["object"] == "Invoice" and task["priority"] == "Medium"
        )
        if hit[0] == second.id
    }
    args = ("--object", "Invoice", "--priority", "Medium", "--customer", second.name)
    assert _search(synced, *args) == expected


def test_text_search_matches_substrings_of_name_and_parameters_when_any_case(
    synced: Synced,
) -> None:
    exports = _exports(synced)
    for text in ("HOOKS.example.com/zuora", "Data.Invoice.Balance", "Email fin", "{{Data."):
        expected = _expected(exports, lambda task, t=text: t.lower() in _task_text(task).lower())
        assert expected, text
        assert _search(synced, "--text", text) == expected, text
    assert _search(synced, "--text", "no-such-text-anywhere") == set()


def test_text_index_follows_the_sync_when_tasks_change(synced: Synced) -> None:
    zuora_id = synced.admin.workflows(TENANTS[0])[0]["id"]
    reference = f"{synced.customers[0].id}:{zuora_id}"
    before = zuora_export(synced.credentials(TENANTS[0]), zuora_id)
    old_task = before["tasks"][0]["id"]
    synced.admin.add_version(TENANTS[0], zuora_id, activate=True)
    synced.sync()
    after = zuora_export(synced.credentials(TENANTS[0]), zuora_id)
    hits = synced.json("tasks", "search", "--workflow", reference, "--limit", "1000")["items"]
    assert {hit["zuora_task_id"] for hit in hits} == {task["id"] for task in after["tasks"]}
    assert old_task not in {hit["zuora_task_id"] for hit in hits}
    synced.admin.delete_workflow(TENANTS[0], zuora_id)
    synced.sync()
    assert (
        synced.cli("tasks", "search", "--workflow", reference).stdout.strip() == "No tasks match."
    )


def test_bad_filters_get_one_line_when_given(synced: Synced) -> None:
    for args, fragment in (
        (("--text", "ab"), "at least 3 characters"),
        (("--text", "x" * 201), "at most 200 characters"),
        (("--workflow-status", "Gone"), "Active or Inactive"),
        (("--customer", "nobody"), "no customer"),
        (("--cursor", "WyJ3b3JrZmxvd3MiLDEsMTAxN10"), "not a cursor of this tasks listing"),
    ):
        result = synced.cli("tasks", "search", *args)
        assert result.exit_code == 1, (args, result.stdout, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and fragment in result.stderr, args


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_backup_reruns_touch_only_changed_files_when_workflows_change(
    synced: Synced, tmp_path: Path
) -> None:
    folder = tmp_path / "backup"
    first = synced.json("backup", "--out", str(folder))
    workflows = sum(len(synced.admin.workflows(tenant)) for tenant in TENANTS)
    assert (len(first["written"]), first["unchanged"], first["removed"]) == (workflows, 0, [])
    (folder / "README.md").write_text("not the product's\n")
    files = _files(folder)
    stamps = {path: path.stat().st_mtime_ns for path in folder.rglob("*.json")}
    again = synced.json("backup", "--out", str(folder))
    assert (again["written"], again["unchanged"], again["removed"]) == ([], workflows, [])
    assert _files(folder) == files
    assert {path: path.stat().st_mtime_ns for path in folder.rglob("*.json")} == stamps

    changed, deleted = (w["id"] for w in synced.admin.workflows(TENANTS[0])[:2])
    synced.admin.edit_workflow(TENANTS[0], changed, description="edited for the backup test")
    synced.admin.delete_workflow(TENANTS[0], deleted)
    synced.sync()
    third = synced.json("backup", "--out", str(folder))
    (written,) = third["written"]
    (removed,) = third["removed"]
    assert written.split("/")[1].startswith(f"{changed}-")
    assert removed.split("/")[1].startswith(f"{deleted}-") and not (folder / removed).exists()
    assert third["unchanged"] == workflows - 2
    exported = synced.cli("workflows", "export", f"{synced.customers[0].id}:{changed}").stdout
    assert (folder / written).read_text(encoding="utf-8") == exported
    assert (folder / "README.md").read_text() == "not the product's\n"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {entry["file"] for entry in manifest["workflows"]} == {
        name for name in _files(folder) if name not in ("manifest.json", "README.md")
    }


def test_backup_of_one_customer_keeps_the_others_when_rerun(synced: Synced, tmp_path: Path) -> None:
    folder = tmp_path / "backup"
    synced.json("backup", "--out", str(folder))
    before = _files(folder)
    only = synced.json("backup", "--out", str(folder), "--customer", synced.customers[1].name)
    assert only["customers"] == 1 and only["written"] == [] and only["removed"] == []
    assert _files(folder) == before
    folders = {name.split("/")[0] for name in before if "/" in name}
    assert folders == {"acme-corp", "globex-eu"}


def test_backup_refuses_a_folder_with_a_foreign_manifest_when_asked(
    synced: Synced, tmp_path: Path
) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"name": "some other tool"}')
    result = synced.cli("backup", "--out", str(folder))
    assert result.exit_code == 1 and "not a backup manifest" in result.stderr
    assert sorted(path.name for path in folder.iterdir()) == ["manifest.json"]
