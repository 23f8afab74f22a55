"""A fetch's result is cheap to show: asyncio's Runner builds the repr of its finished main task
(this result) on the main thread each time it restores the SIGINT handler."""

from __future__ import annotations

from zuora_workflow_sync.domain.models import FetchedWorkflow
from zuora_workflow_sync.sync.fetch import FetchResult


def test_repr_counts_what_was_fetched_when_it_holds_large_documents() -> None:
    big = {"tasks": [{"id": i, "parameters": {"body": "x" * 1000}} for i in range(200)]}
    fetched = [FetchedWorkflow(zuora_workflow_id=i, name=f"w{i}", document=big) for i in range(50)]
    result = FetchResult(fetched, set(range(60)), api_requests=51, token_requests=1)
    text = repr(result)
    assert text == (
        "FetchResult(50 fetched, 60 listed, 51 requests, 1 token requests, 0 throttled)"
    )
