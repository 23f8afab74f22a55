"""`--spread`: the i-th of N due customers waits i * spread / N seconds, counted across batches,
checked in the real ledger (`not_before_at`) and the real queue, on both backends."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.backends import Backend
from tests.store.factories import add_many_customers
from zuora_workflow_sync.domain.models import RunStatus, SyncRun
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.queue import JobQueue, QueueUnavailableError, open_queue
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.sync.dispatch import (
    MAX_SPREAD_SECONDS,
    Dispatcher,
    DispatchOptions,
    DispatchResult,
)

from .conftest import make_settings, record_run

BATCH = 4
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def runtime(tmp_path: Path, backend: Backend) -> Iterator[Runtime]:
    settings = make_settings(tmp_path, dispatch_batch_size=BATCH, **backend.settings_fields)
    with build_runtime(settings) as built:
        yield built


@pytest.fixture
def job_queue(runtime: Runtime) -> Iterator[JobQueue]:
    queue = open_queue(runtime.settings.resolved_queue_url, "workflows")
    yield queue
    queue.close()


def _dispatch(runtime: Runtime, queue: JobQueue, **options: Any) -> DispatchResult:
    dispatcher = Dispatcher(runtime, queue, (QueueUnavailableError,), say=print, now=NOW)
    return dispatcher.dispatch(DispatchOptions(**{"customer_id": None, **options}))


def _queued_runs(runtime: Runtime) -> list[SyncRun]:
    runs = runtime.ledger.list_runs(limit=1000)
    return sorted((r for r in runs if r.status is RunStatus.QUEUED), key=lambda r: r.customer_id)


def _delays(runs: list[SyncRun]) -> list[float]:
    return [(run.not_before_at - NOW).total_seconds() for run in runs]


@pytest.mark.parametrize("count", [BATCH - 1, 3 * BATCH + 2])
def test_delays_are_evenly_spaced_over_the_window_when_spread_is_given(
    runtime: Runtime, job_queue: JobQueue, count: int
) -> None:
    add_many_customers(runtime.engine, count)

    result = _dispatch(runtime, job_queue, spread_seconds=600.0)

    assert len(result.queued) == count and result.inline == []
    delays = _delays(_queued_runs(runtime))
    step = 600.0 / count
    # The global index, not the index within a batch: no delay repeats after a batch boundary.
    assert delays == pytest.approx([index * step for index in range(count)], abs=1e-6)
    assert delays[0] == 0.0 and 600.0 - step - 1e-6 <= delays[-1] < 600.0
    assert job_queue.pending_count() == 1  # the first one, at once
    assert job_queue.scheduled_count() == count - 1


def test_queue_etas_follow_the_spread_when_customers_exceed_the_batch_size(
    runtime: Runtime, job_queue: JobQueue
) -> None:
    count = 2 * BATCH + 1
    add_many_customers(runtime.engine, count)

    _dispatch(runtime, job_queue, spread_seconds=90.0)

    run_of_job = {task.args[0]: task.eta for task in job_queue.huey.scheduled()}
    runs = _queued_runs(runtime)
    etas = [run_of_job[run.id] for run in runs[1:]]  # the first was not scheduled
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(etas)]
    # Each batch reads the queue's clock once: gaps across a batch boundary carry that jitter.
    assert gaps == pytest.approx([90.0 / count] * (count - 2), abs=0.5)


def test_customer_with_an_active_run_keeps_its_place_in_the_spread(
    runtime: Runtime, job_queue: JobQueue
) -> None:
    add_many_customers(runtime.engine, 5)
    busy = record_run(runtime, 2)

    result = _dispatch(runtime, job_queue, spread_seconds=50.0)

    assert result.skipped_active.sample == [2]
    others = [run for run in _queued_runs(runtime) if run.id != busy.run_id]
    assert [run.customer_id for run in others] == [1, 3, 4, 5]
    assert _delays(others) == pytest.approx([0.0, 20.0, 30.0, 40.0], abs=1e-6)


def test_spread_has_no_effect_when_one_customer_is_named(
    runtime: Runtime, job_queue: JobQueue
) -> None:
    add_many_customers(runtime.engine, 3)

    result = _dispatch(runtime, job_queue, customer_id=3, spread_seconds=600.0)

    assert [run.customer_id for run in result.queued.sample] == [3]
    assert _delays(_queued_runs(runtime)) == [0.0]
    assert job_queue.pending_count() == 1 and job_queue.scheduled_count() == 0


def test_random_stagger_is_unchanged_when_no_spread_is_given(
    runtime: Runtime, job_queue: JobQueue
) -> None:
    add_many_customers(runtime.engine, 2 * BATCH)

    _dispatch(runtime, job_queue)

    delays = _delays(_queued_runs(runtime))
    low, high = runtime.settings.stagger_min_seconds, runtime.settings.stagger_max_seconds
    assert all(low <= delay <= high for delay in delays)
    assert len(set(delays)) == len(delays)
    assert delays != sorted(delays)  # random per customer, not in customer order
    assert job_queue.scheduled_count() == 2 * BATCH


@pytest.mark.parametrize(
    "spread", [0.0, -1.0, math.nan, math.inf, MAX_SPREAD_SECONDS + 1, -math.inf]
)
def test_spread_is_refused_when_not_a_positive_window_of_at_most_seven_days(
    spread: float,
) -> None:
    with pytest.raises(ConfigurationError, match="invalid spread"):
        DispatchOptions(customer_id=None, spread_seconds=spread)


def test_spread_of_exactly_seven_days_is_accepted() -> None:
    options = DispatchOptions(customer_id=None, spread_seconds=MAX_SPREAD_SECONDS)

    assert options.spread_seconds == timedelta(days=7).total_seconds()
