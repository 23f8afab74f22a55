"""`workflows history` and `workflows diff` show exactly the change made in Zuora (through the
simulator's admin API) and synced again, on SQLite and on PostgreSQL."""

from __future__ import annotations

from tests.synced import TENANTS, Synced, zuora_export
from zuora_workflow_sync.domain.workflow_diff import diff_documents


def _reference(synced: Synced, index: int = 0) -> tuple[str, int]:
    zuora_id = int(synced.admin.workflows(TENANTS[0])[index]["id"])
    return f"{synced.customers[0].id}:{zuora_id}", zuora_id


def test_history_has_one_entry_when_nothing_changed(synced: Synced) -> None:
    reference, _ = _reference(synced)
    synced.sync()
    history = synced.json("workflows", "history", reference)
    (entry,) = history["items"]
    assert entry["number"] == 1 and entry["current"] and entry["summary"] == "first seen"
    assert entry["run_id"] is not None and history["next_cursor"] is None


def test_history_and_diff_show_the_rename_when_renamed_in_zuora(synced: Synced) -> None:
    reference, zuora_id = _reference(synced)
    old_name = synced.json("workflows", "show", reference)["workflow"]["name"]
    synced.admin.edit_workflow(TENANTS[0], zuora_id, name="Renamed in Zuora")
    synced.sync()
    first, second = synced.json("workflows", "history", reference)["items"]
    assert (first["current"], second["current"]) == (False, True)
    assert second["summary"] == "renamed"
    assert first["content_hash"] != second["content_hash"]
    diff = synced.json("workflows", "diff", reference, exit_code=1)
    assert [change["path"] for change in diff["workflow_changes"]] == ["name"]
    assert diff["workflow_changes"][0] == {
        "path": "name",
        "old": old_name,
        "new": "Renamed in Zuora",
    }
    assert diff["tasks"] == {"added": [], "removed": [], "changed": [], "renumbered": 0}
    assert (diff["from"]["number"], diff["to"]["number"], diff["equal"]) == (1, 2, False)
    text = synced.cli("workflows", "diff", reference)
    assert text.exit_code == 1
    assert f'name: "{old_name}" -> "Renamed in Zuora"' in text.stdout


def test_diff_of_a_new_version_pairs_renumbered_tasks_when_a_version_is_activated(
    synced: Synced,
) -> None:
    reference, zuora_id = _reference(synced, 1)
    before = zuora_export(synced.credentials(TENANTS[0]), zuora_id)
    synced.admin.add_version(TENANTS[0], zuora_id, activate=True)
    synced.sync()
    after = zuora_export(synced.credentials(TENANTS[0]), zuora_id)
    expected = diff_documents(before, after)
    diff = synced.json("workflows", "diff", reference, "1", "2", exit_code=1)
    assert diff["summary"] == expected.summary()
    assert diff["tasks"]["renumbered"] == len(before["tasks"])  # every task got a new id
    added = [task["id"] for task in diff["tasks"]["added"]]
    changed = [change["id"] for change in diff["tasks"]["changed"]]
    old_ids = {task["id"] for task in before["tasks"]}
    new_ids = {task["id"] for task in after["tasks"]}
    assert set(added) | set(changed) <= new_ids and not old_ids & new_ids
    # The simulator either appends one task or renames one: exactly one of the two shows.
    assert len(added) + len(changed) == 1
    if changed:
        paths = [c["path"] for c in diff["tasks"]["changed"][0]["changes"]]
        assert "name" in paths and any(path.startswith("tags[") for path in paths)
    assert diff["to"]["active_version"] != diff["from"]["active_version"]
    history = synced.json("workflows", "history", reference)["items"]
    assert history[1]["summary"] == expected.summary()


def test_diff_exit_status_follows_diff1_when_equal_different_or_wrong(synced: Synced) -> None:
    reference, zuora_id = _reference(synced)
    synced.admin.edit_workflow(TENANTS[0], zuora_id, description="changed")
    synced.sync()
    assert synced.cli("workflows", "diff", reference, "1", "1").exit_code == 0
    assert synced.cli("workflows", "diff", reference, "1", "2").exit_code == 1
    for args in ((reference, "7"), ("999999",), (reference, "zz"), (reference, "--nope")):
        wrong = synced.cli("workflows", "diff", *args)
        assert wrong.exit_code == 2, (args, wrong.stdout, wrong.stderr)
        assert len(wrong.stderr.splitlines()) == 1
    lonely, _ = _reference(synced, 2)
    only_one = synced.cli("workflows", "diff", lonely)
    assert only_one.exit_code == 2 and "no version before" in only_one.stderr
    assert "0 when the versions are equal, 1 when they differ, 2 on error" in " ".join(
        synced.cli("workflows", "diff", "--help").stdout.split()
    )


def test_versions_are_picked_by_number_hash_prefix_or_zuora_version_when_shown(
    synced: Synced,
) -> None:
    reference, zuora_id = _reference(synced, 1)
    synced.admin.add_version(TENANTS[0], zuora_id, activate=True)
    synced.sync()
    first, second = synced.json("workflows", "history", reference)["items"]
    by_number = synced.json("workflows", "show", reference, "--version", "1")
    by_hash = synced.json("workflows", "show", reference, "--version", first["content_hash"][:10])
    by_zuora = synced.json("workflows", "show", reference, "--version", first["active_version"])
    assert by_number == by_hash == by_zuora
    assert by_number["version"]["current"] is False and by_number["version"]["of"] == 2
    old_export = synced.cli("workflows", "export", reference, "--version", "1").stdout
    new_export = synced.cli("workflows", "export", reference).stdout
    assert old_export != new_export
    current = synced.json("workflows", "show", reference, "--version", second["content_hash"][:8])
    assert current["version"]["current"] is True


def test_diff_after_a_revert_compares_with_the_replaced_content_when_defaulted(
    synced: Synced,
) -> None:
    reference, zuora_id = _reference(synced)
    original = synced.json("workflows", "show", reference)["workflow"]["name"]
    synced.admin.edit_workflow(TENANTS[0], zuora_id, name="Temporary")
    synced.sync()
    synced.admin.edit_workflow(TENANTS[0], zuora_id, name=original)
    synced.sync()
    history = synced.json("workflows", "history", reference)["items"]
    assert [entry["current"] for entry in history] == [True, False]
    diff = synced.json("workflows", "diff", reference, exit_code=1)
    assert diff["workflow_changes"] == [{"path": "name", "old": "Temporary", "new": original}]
