"""The suite's one way to wait for something another thread or process does: poll a condition
until it holds, and fail naming what never happened.

A database error while polling (a server being restarted under the test) counts as "not yet".
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.store.runs import SyncRunLedger

DEFAULT_INTERVAL_SECONDS = 0.05


def wait_until(
    condition: Callable[[], object],
    *,
    timeout: float,
    what: str,
    interval: float = DEFAULT_INTERVAL_SECONDS,
) -> None:
    """Return once `condition()` is truthy; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except OperationalError:
            pass
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def wait_for_run(ledger: SyncRunLedger, run_id: int, status: RunStatus, *, timeout: float) -> None:
    """Wait until the ledger shows run `run_id` in `status`."""

    def reached() -> bool:
        run = ledger.get(run_id)
        return run is not None and run.status is status

    wait_until(reached, timeout=timeout, what=f"run {run_id} to be {status.value}")
