"""apply_sync: created/updated/unchanged counts, history, task replacement, tombstones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Row, select
from sqlalchemy.orm import Session

from zuora_workflow_sync.domain.models import FetchedWorkflow, SyncCounts
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.tables import WorkflowHistoryRow, WorkflowRow, WorkflowTaskRow
from zuora_workflow_sync.store.workflows import WorkflowRepository, WorkflowState, apply_sync

from .factories import PAST, add_customer, count_rows, record, task, workflow

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


class Syncer:
    """Runs one complete ledger cycle per call: record, claim, apply, finish."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.customer_id = add_customer(engine).id
        self.ledger = SyncRunLedger(engine)
        self.calls = 0

    def sync(
        self,
        fetched: Sequence[FetchedWorkflow],
        listed: set[int] | None = None,
        *,
        complete: bool = True,
    ) -> SyncCounts:
        self.calls += 1
        (run,) = record(self.engine, [self.customer_id])
        claimed = self.ledger.claim(run.run_id, "worker", 60)
        assert claimed is not None
        listed_ids = {w.zuora_workflow_id for w in fetched} if listed is None else listed
        now = T0 + timedelta(hours=self.calls)
        with Session(self.engine) as session, session.begin():
            self.ledger.fence(session, run.run_id, claimed.attempt)
            counts = apply_sync(
                session, self.customer_id, run.run_id, fetched, listed_ids, complete, now
            )
            self.ledger.finish_succeeded(session, run.run_id, claimed.attempt, counts)
        return counts

    def rows(self) -> dict[int, Row[Any]]:
        with self.engine.connect() as conn:
            result = conn.execute(select(WorkflowRow.__table__)).all()
        return {row.zuora_workflow_id: row for row in result}

    def tasks(self, zuora_workflow_id: int) -> list[int]:
        query = (
            select(WorkflowTaskRow.zuora_task_id)
            .join(WorkflowRow, WorkflowRow.id == WorkflowTaskRow.workflow_id)
            .where(WorkflowRow.zuora_workflow_id == zuora_workflow_id)
            .order_by(WorkflowTaskRow.zuora_task_id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())


@pytest.fixture
def syncer(engine: Engine) -> Syncer:
    return Syncer(engine)


def test_workflows_are_created_with_history_and_tasks_when_first_seen(syncer: Syncer) -> None:
    counts = syncer.sync([workflow(1, tasks=[task(10), task(11)]), workflow(2)])
    assert counts == SyncCounts(listed=2, created=2)
    rows = syncer.rows()
    assert set(rows) == {1, 2}
    assert rows[1].first_seen_at == rows[1].last_changed_at == rows[1].last_seen_at
    assert rows[1].document["workflow"]["id"] == 1
    assert syncer.tasks(1) == [10, 11]
    assert count_rows(syncer.engine, WorkflowHistoryRow) == 2


def test_counts_are_unchanged_and_nothing_is_appended_when_content_is_the_same(
    syncer: Syncer,
) -> None:
    syncer.sync([workflow(1, tasks=[task(10)])])
    before = syncer.rows()[1]
    counts = syncer.sync([workflow(1, tasks=[task(10)])])
    assert counts == SyncCounts(listed=1, unchanged=1)
    after = syncer.rows()[1]
    assert after.last_changed_at == before.last_changed_at
    assert after.last_seen_at > before.last_seen_at
    assert count_rows(syncer.engine, WorkflowHistoryRow) == 1
    assert syncer.tasks(1) == [10]


def test_changed_content_is_updated_with_history_and_new_tasks_when_hash_differs(
    syncer: Syncer,
) -> None:
    syncer.sync([workflow(1, "1.0", tasks=[task(10), task(11)]), workflow(2)])
    counts = syncer.sync([workflow(1, "2.0", tasks=[task(11), task(12)]), workflow(2)])
    assert counts == SyncCounts(listed=2, updated=1, unchanged=1)
    rows = syncer.rows()
    assert rows[1].active_version == "2.0"
    assert rows[1].last_changed_at > rows[1].first_seen_at
    assert syncer.tasks(1) == [11, 12]
    assert count_rows(syncer.engine, WorkflowHistoryRow) == 3


def test_history_is_not_repeated_when_content_returns_to_an_earlier_hash(
    syncer: Syncer,
) -> None:
    syncer.sync([workflow(1, "1.0")])
    syncer.sync([workflow(1, "2.0")])
    counts = syncer.sync([workflow(1, "1.0")])
    assert counts.updated == 1
    assert count_rows(syncer.engine, WorkflowHistoryRow) == 2


def test_only_metadata_is_refreshed_when_listing_fields_change_but_content_does_not(
    syncer: Syncer,
) -> None:
    syncer.sync([workflow(1)])
    later = PAST + timedelta(days=1)
    counts = syncer.sync([workflow(1, zuora_updated_at=later, status="Inactive")])
    assert counts == SyncCounts(listed=1, unchanged=1)
    row = syncer.rows()[1]
    assert (row.zuora_updated_at, row.status) == (later, "Inactive")
    assert count_rows(syncer.engine, WorkflowHistoryRow) == 1


def test_listed_but_not_exported_workflows_are_marked_seen_when_incremental(
    syncer: Syncer,
) -> None:
    syncer.sync([workflow(1), workflow(2)])
    counts = syncer.sync([workflow(2, "2.0")], listed={1, 2})
    assert counts == SyncCounts(listed=2, updated=1, unchanged=1)
    rows = syncer.rows()
    assert rows[1].deleted_at is None
    assert rows[1].last_seen_at == rows[2].last_seen_at


def test_absent_workflows_are_tombstoned_when_the_listing_is_complete(syncer: Syncer) -> None:
    syncer.sync([workflow(1), workflow(2, tasks=[task(20)])])
    counts = syncer.sync([workflow(1)])
    assert counts == SyncCounts(listed=1, unchanged=1, tombstoned=1)
    rows = syncer.rows()
    assert rows[2].deleted_at is not None and rows[1].deleted_at is None
    assert syncer.tasks(2) == [20], "a tombstone keeps its last content"
    assert syncer.sync([workflow(1)]).tombstoned == 0


def test_nothing_is_tombstoned_when_the_listing_is_incomplete(syncer: Syncer) -> None:
    syncer.sync([workflow(1), workflow(2)])
    counts = syncer.sync([workflow(1)], complete=False)
    assert counts == SyncCounts(listed=1, unchanged=1)
    assert all(row.deleted_at is None for row in syncer.rows().values())


def test_reappearing_workflow_is_untombstoned_when_listed_again(syncer: Syncer) -> None:
    syncer.sync([workflow(1), workflow(2)])
    syncer.sync([workflow(1)])
    assert syncer.sync([workflow(1), workflow(2)]) == SyncCounts(listed=2, updated=1, unchanged=1)
    assert syncer.rows()[2].deleted_at is None
    syncer.sync([workflow(1)])
    counts = syncer.sync([workflow(1)], listed={1, 2})
    assert counts == SyncCounts(listed=2, updated=1, unchanged=1)
    assert syncer.rows()[2].deleted_at is None


def test_incremental_state_reports_version_update_time_and_liveness_when_read(
    syncer: Syncer,
) -> None:
    syncer.sync([workflow(1, "3.1"), workflow(2)])
    syncer.sync([workflow(1, "3.1")])
    state = WorkflowRepository(syncer.engine).incremental_state(syncer.customer_id)
    assert state == {1: WorkflowState("3.1", PAST, True), 2: WorkflowState("1.0", PAST, False)}


@pytest.mark.parametrize(
    ("fetched", "listed", "message"),
    [
        ([workflow(1), workflow(1)], {1}, "fetched twice"),
        ([], {7}, "neither fetched nor stored"),
    ],
)
def test_apply_sync_raises_and_writes_nothing_when_input_is_inconsistent(
    syncer: Syncer, fetched: list[FetchedWorkflow], listed: set[int], message: str
) -> None:
    (run,) = record(syncer.engine, [syncer.customer_id])
    with pytest.raises(ValueError, match=message), syncer.engine.begin() as conn:
        apply_sync(conn, syncer.customer_id, run.run_id, fetched, listed, True, T0)
    assert count_rows(syncer.engine, WorkflowRow) == 0


def test_bulk_statements_are_used_when_many_workflows_change(syncer: Syncer) -> None:
    many = [workflow(index, tasks=[task(index * 10), task(index * 10 + 1)]) for index in range(600)]
    assert syncer.sync(many).created == 600
    changed = [workflow(index, "2.0", tasks=[task(index * 10)]) for index in range(600)]
    assert syncer.sync(changed).updated == 600
    assert count_rows(syncer.engine, WorkflowTaskRow) == 600
    assert count_rows(syncer.engine, WorkflowHistoryRow) == 1200


def test_documents_read_back_as_fetched_when_created_and_changed(syncer: Syncer) -> None:
    """The canonical JSON text bound once for the hash and both tables is the document itself:
    an object on PostgreSQL (JSONB), the same values on SQLite, non-ASCII text kept."""
    first = workflow(1)
    first.document["workflow"]["description"] = 'Facture réglée ✓ "quoted" \\ back'
    first.document["nested"] = {"b": [1, 2.5, None, True], "a": {"z": "", "y": []}}
    syncer.sync([first])
    changed = workflow(1, "2.0")
    changed.document["extra"] = {"ключ": "значение"}
    syncer.sync([changed])
    with syncer.engine.connect() as conn:
        history = conn.execute(
            select(WorkflowHistoryRow.document).order_by(WorkflowHistoryRow.id)
        ).scalars()
        assert list(history) == [first.document, changed.document]
    assert syncer.rows()[1].document == changed.document
