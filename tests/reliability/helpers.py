"""Helpers of the fault suite: short leases, workers with extra environment, timed recoveries."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

from tests.chaos.fleet import Fleet
from tests.polling import wait_until
from zuora_workflow_sync.queue import open_queue

# Correctness, not recovery at the defaults (tests/chaos has those): the shortest lease the
# settings accept (heartbeat every 5/3 s), lost work reaped as soon as it is lost.
SHORT_LEASE = {"lease_seconds": "5", "stale_queued_grace_seconds": "1"}
NO_STAGGER = {"stagger_min_seconds": "0", "stagger_max_seconds": "0"}
FAST = {**SHORT_LEASE, **NO_STAGGER}


def start_worker(
    fleet: Fleet, name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`workflow-sync worker ARGS` as process `name`, with `env` on top of the fleet's."""
    saved = fleet.env
    fleet.env = {**saved, **(env or {})}
    try:
        return fleet.start(name, "workflow-sync", "worker", "--concurrency", "1", *args)
    finally:
        fleet.env = saved


def wait_logged(fleet: Fleet, name: str, fragment: str, *, timeout: float = 30.0) -> None:
    """Until process `name` logged a line whose message holds `fragment`."""
    wait_until(
        lambda: any(fragment in str(entry.get("message")) for entry in fleet.log(name)),
        timeout=timeout,
        what=f"{name} to log {fragment!r}",
    )


def dispatch(fleet: Fleet, *args: str) -> None:
    done = fleet.run("sync-workflows", *args)
    assert done.returncode == 0, (done.stdout, done.stderr)


def enqueue_again(fleet: Fleet, run_id: int) -> None:
    """Deliver run `run_id`'s job once more, as a queue that redelivers would."""
    queue = open_queue(fleet.backend.queue_url, "workflows")
    try:
        queue.enqueue(run_id)
    finally:
        queue.close()


def timed(action: Callable[[], None]) -> float:
    """Seconds `action` took."""
    started = time.monotonic()
    action()
    return time.monotonic() - started
