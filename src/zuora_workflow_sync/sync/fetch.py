"""Fetching one customer's workflows from Zuora: a complete listing, then only the exports needed.

Incremental: a workflow whose active version and `updatedAt` match the last successful sync is
not exported again (unless a full export is asked for). Exports run concurrently, at most
`export_concurrency` in flight for the tenant; the first failure cancels the rest, so a run
either has every export it needs or fails as a whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from zuora_workflow_sync.domain.models import FetchedTask, FetchedWorkflow, SyncCounts
from zuora_workflow_sync.zuora import ZuoraClient
from zuora_workflow_sync.zuora.models import WorkflowDefinition, WorkflowExport


@dataclass(frozen=True, slots=True)
class KnownWorkflow:
    """What the store remembers of a workflow from earlier syncs."""

    active_version: str | None
    zuora_updated_at: datetime | None
    alive: bool


@dataclass(frozen=True, slots=True, repr=False)
class FetchResult:
    """The outcome of a complete listing plus the exports it called for."""

    fetched: list[FetchedWorkflow]
    listed_ids: set[int]
    api_requests: int
    token_requests: int
    throttled: int = 0

    def __repr__(self) -> str:
        # Short: asyncio's Runner builds the repr of its finished main task (this result) when
        # it restores the SIGINT handler, on the main thread; the full one held every document.
        return (
            f"FetchResult({len(self.fetched)} fetched, {len(self.listed_ids)} listed, "
            f"{self.api_requests} requests, {self.token_requests} token requests, "
            f"{self.throttled} throttled)"
        )

    def with_requests(self, counts: SyncCounts) -> SyncCounts:
        """`counts` with this fetch's requests: all of them, the token requests, the 429s."""
        return replace(
            counts,
            api_requests=self.api_requests + self.token_requests,
            token_requests=self.token_requests,
            throttled=self.throttled,
        )


def needs_export(item: WorkflowDefinition, known: KnownWorkflow | None, *, full: bool) -> bool:
    """Pure: should this listed workflow be exported again?"""
    if full or known is None or not known.alive:
        return True
    active = item.active_version.version if item.active_version else None
    return active != known.active_version or item.updated_at != known.zuora_updated_at


async def fetch_workflows(
    client: ZuoraClient,
    known: Awaitable[Mapping[int, KnownWorkflow]] | None,
    *,
    export_concurrency: int,
    on_listed: Callable[[int], None] | None = None,
) -> FetchResult:
    """List every workflow (complete or an exception), then export what changed.

    `known` (None for a full export) is awaited once the listing is in: the caller can read
    it from the store while the listing is on its way. `on_listed` is told how many
    workflows the listing holds.
    """
    listing = await client.list_workflows()
    if on_listed is not None:
        on_listed(len(listing.workflows))
    remembered = {} if known is None else await known
    wanted = [
        item
        for item in listing.workflows
        if needs_export(item, remembered.get(item.id), full=known is None)
    ]
    gate = asyncio.Semaphore(max(1, export_concurrency))

    async def export(item: WorkflowDefinition) -> FetchedWorkflow:
        async with gate:
            received = await client.receive_export(item.id)
        # Parsed after a turn of the loop: the next export takes the place and its request
        # goes out while this body is parsed, not after (~1 ms a request on the critical path).
        await asyncio.sleep(0)
        return to_fetched(item, received.parse().value)

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(export(item)) for item in wanted]
    except ExceptionGroup as failures:
        raise _first_failure(failures) from None
    return FetchResult(
        fetched=[task.result() for task in tasks],
        listed_ids={item.id for item in listing.workflows},
        api_requests=client.api_requests,
        token_requests=client.token_requests,
        throttled=client.throttled_responses,
    )


def _first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real error of a TaskGroup (the others were cancelled because of it)."""
    first = group.exceptions[0]
    return _first_failure(first) if isinstance(first, BaseExceptionGroup) else first


def to_fetched(item: WorkflowDefinition, export: WorkflowExport) -> FetchedWorkflow:
    """Join a listing entry and its export into what the store keeps."""
    return FetchedWorkflow(
        zuora_workflow_id=item.id,
        name=item.name,
        document=export.document,
        description=item.description,
        status=item.status,
        active_version=item.active_version.version if item.active_version else None,
        zuora_created_at=item.created_at,
        zuora_updated_at=item.updated_at,
        tasks=[
            FetchedTask(
                zuora_task_id=task.id,
                name=task.name,
                action_type=task.action_type,
                object=task.object,
                object_id=None if task.object_id is None else str(task.object_id),
                call_type=task.call_type,
                priority=task.priority,
                parent_task_id=task.task_id,
                tags=[tag for tag in task.tags or [] if isinstance(tag, str)],
                parameters=task.parameters or {},
            )
            for task in export.tasks
        ],
    )
