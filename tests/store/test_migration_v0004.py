"""Revision 0004 (the read side): tasks stored before it get their priority from the stored
export and become searchable by text; downgrade removes the column and the text index."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, inspect, select, text

from zuora_workflow_sync.catalog.tasks import search_tasks
from zuora_workflow_sync.domain.records import TaskFilter
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.tables import WorkflowRow, WorkflowTaskRow

DOCUMENT: dict[str, Any] = {
    "workflow": {"id": 7, "name": "Old one"},
    "tasks": [
        {
            "id": 70,
            "name": "Notify",
            "priority": "High",
            "parameters": {"url": "https://legacy.example.net/x"},
        },
        {"id": 71, "name": "Mail", "priority": 3, "parameters": {"to": ["Zoë <z@example.org>"]}},
    ],
    "linkages": [],
}


def _task_columns(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return {column["name"] for column in inspect(conn).get_columns("workflow_tasks")}
    finally:
        engine.dispose()


def _store_before_0004(engine: Engine) -> None:
    customer = CustomerRepository(engine).add(
        "legacy",
        zuora_base_url="https://rest.zuora.com",
        client_id="c",
        client_secret_encrypted="t",
    )
    now = datetime.now(UTC)
    with engine.begin() as conn:
        workflow_id = conn.execute(
            insert(WorkflowRow).returning(WorkflowRow.id),
            {
                "customer_id": customer.id,
                "zuora_workflow_id": 7,
                "name": "Old one",
                "document": DOCUMENT,
                "content_hash": "0" * 64,
                "first_seen_at": now,
                "last_changed_at": now,
                "last_seen_at": now,
            },
        ).scalar_one()
        for task in DOCUMENT["tasks"]:
            conn.execute(
                insert(WorkflowTaskRow.__table__).values(  # type: ignore[arg-type]
                    workflow_id=workflow_id,
                    zuora_task_id=task["id"],
                    name=task["name"],
                    tags=[],
                    parameters=task["parameters"],
                )
            )


def test_existing_tasks_get_priority_and_text_search_when_upgraded_from_0003(db_url: str) -> None:
    migrate.downgrade(db_url, "0003")
    assert "priority" not in _task_columns(db_url)
    engine = create_engine_for(db_url)
    try:
        _store_before_0004(engine)
        if engine.dialect.name == "sqlite":  # as the JSON serializer before 0004 wrote it
            with engine.begin() as conn:
                conn.execute(
                    text("UPDATE workflow_tasks SET parameters = :old WHERE zuora_task_id = 71"),
                    {"old": json.dumps(DOCUMENT["tasks"][1]["parameters"])},
                )
        migrate.upgrade(db_url)
        with engine.connect() as conn:
            priorities = dict(
                conn.execute(select(WorkflowTaskRow.zuora_task_id, WorkflowTaskRow.priority)).all()
            )
        assert priorities == {70: "High", 71: None}  # a number is not a priority
        for needle, expected in (("LEGACY.example", [70]), ("zoë <z@", [71]), ("absent-text", [])):
            page = search_tasks(engine, TaskFilter(text=needle), limit=10)
            assert [hit.zuora_task_id for hit in page.items] == expected, needle
    finally:
        engine.dispose()


def test_priority_column_goes_when_downgraded_to_0003(db_url: str) -> None:
    migrate.downgrade(db_url, "0003")
    assert migrate.current(db_url) == "0003" and "priority" not in _task_columns(db_url)
    migrate.upgrade(db_url)
    assert "priority" in _task_columns(db_url)
