"""What a sync changes, decided in memory: the pure half of `workflows.apply_sync`.

Compares the stored workflows of one customer with what a run fetched and listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from zuora_workflow_sync.domain.models import (
    FetchedWorkflow,
    SyncCounts,
    canonical_hash,
    canonical_json,
)

Metadata = tuple[str, str | None, str | None, str | None, datetime | None, datetime | None]


@dataclass(frozen=True, slots=True)
class StoredWorkflow:
    """The stored state of one workflow that the comparison needs (not its document)."""

    id: int
    zuora_workflow_id: int
    content_hash: str
    alive: bool
    metadata: Metadata


@dataclass(frozen=True, slots=True)
class HashedWorkflow:
    """A fetched workflow with its canonical JSON and content hash, computed once: the store
    writes that text (to the workflow and its history row) instead of encoding it again."""

    fetched: FetchedWorkflow
    content_hash: str
    document_json: str


@dataclass(slots=True)
class SyncPlan:
    """The writes of one sync, grouped by statement; `counts` omits api_requests."""

    create: list[HashedWorkflow] = field(default_factory=list)
    change: dict[int, HashedWorkflow] = field(default_factory=dict)
    refresh: dict[int, HashedWorkflow] = field(default_factory=dict)
    touch: list[int] = field(default_factory=list)
    tombstone: list[int] = field(default_factory=list)
    counts: SyncCounts = field(default_factory=SyncCounts)


def metadata_of(workflow: FetchedWorkflow) -> Metadata:
    return (
        workflow.name,
        workflow.description,
        workflow.status,
        workflow.active_version,
        workflow.zuora_created_at,
        workflow.zuora_updated_at,
    )


def plan_sync(
    stored: Mapping[int, StoredWorkflow],
    fetched: Iterable[FetchedWorkflow],
    listed_ids: set[int],
    listing_complete: bool,
) -> SyncPlan:
    """Decide every write; `stored` and ids are keyed by Zuora workflow id.

    New content is `change` (history, tasks), the same content with new listing fields or
    coming back from a tombstone is `refresh`, the rest is `touch`. Only a complete listing
    tombstones what it no longer shows. Raises ValueError for a fetched id given twice or a
    listed id that was neither fetched nor stored (a caller bug).
    """
    plan = SyncPlan()
    hashed = _hash_all(fetched)
    kinds = Counter(_classify(stored.get(i), workflow, plan) for i, workflow in hashed.items())
    for zuora_id in sorted(listed_ids - hashed.keys()):
        kinds[_touch_listed(stored.get(zuora_id), zuora_id, plan)] += 1
    seen = listed_ids | hashed.keys()
    if listing_complete:
        plan.tombstone = [
            w.id for w in stored.values() if w.alive and w.zuora_workflow_id not in seen
        ]
    plan.counts = SyncCounts(
        listed=len(seen),
        created=kinds["created"],
        updated=kinds["updated"],
        unchanged=kinds["unchanged"],
        tombstoned=len(plan.tombstone),
    )
    return plan


def _hash_all(fetched: Iterable[FetchedWorkflow]) -> dict[int, HashedWorkflow]:
    hashed: dict[int, HashedWorkflow] = {}
    for workflow in fetched:
        if workflow.zuora_workflow_id in hashed:
            raise ValueError(f"workflow {workflow.zuora_workflow_id} was fetched twice")
        text = canonical_json(workflow.document)
        hashed[workflow.zuora_workflow_id] = HashedWorkflow(workflow, canonical_hash(text), text)
    return hashed


def _classify(existing: StoredWorkflow | None, workflow: HashedWorkflow, plan: SyncPlan) -> str:
    if existing is None:
        plan.create.append(workflow)
        return "created"
    if existing.content_hash != workflow.content_hash:
        plan.change[existing.id] = workflow
        return "updated"
    if not existing.alive or existing.metadata != metadata_of(workflow.fetched):
        plan.refresh[existing.id] = workflow
        return "unchanged" if existing.alive else "updated"
    plan.touch.append(existing.id)
    return "unchanged"


def _touch_listed(existing: StoredWorkflow | None, zuora_id: int, plan: SyncPlan) -> str:
    """A listed workflow the run did not re-export: its stored content is still current."""
    if existing is None:
        raise ValueError(f"listed workflow {zuora_id} was neither fetched nor stored")
    plan.touch.append(existing.id)
    return "unchanged" if existing.alive else "updated"
