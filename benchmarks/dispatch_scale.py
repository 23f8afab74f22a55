"""How fast `sync-workflows` dispatches a large fleet, and whether its memory grows with it.

Creates N active customers in a fresh SQLite database, then runs the real dispatcher (count,
stream in batches, record runs in the ledger, enqueue each job on Huey's SQLite queue with its
stagger) and prints wall time, throughput and the peak resident memory of the process, each
size in a fresh process. A flat peak across sizes is the point: nothing grows with the fleet.

    .venv/bin/python benchmarks/dispatch_scale.py --customers 1000 10000 100000
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import insert

from zuora_workflow_sync.queue import QueueUnavailableError, open_queue
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import CustomerRow
from zuora_workflow_sync.sync.dispatch import Dispatcher, DispatchOptions


def _customers(settings: Settings, count: int) -> None:
    now = datetime.now(UTC)
    with build_runtime(settings) as runtime, runtime.engine.begin() as conn:
        for start in range(0, count, 5000):
            conn.execute(
                insert(CustomerRow),
                [
                    {
                        "name": f"customer-{index:07d}",
                        "sync_status": "active",
                        "zuora_base_url": "https://rest.test.zuora.com",
                        "client_id": "client",
                        "client_secret_encrypted": "not-used-here",
                        "consecutive_failures": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for index in range(start, min(start + 5000, count))
                ],
            )


def measure(count: int, home: Path) -> tuple[float, int]:
    settings = Settings(home=home, secret_keys=SecretStr(Keyring.generate_key()))
    _customers(settings, count)
    lines: list[str] = []
    with build_runtime(settings) as runtime:
        queue = open_queue(settings.resolved_queue_url, "workflows")
        dispatcher = Dispatcher(runtime, queue, (QueueUnavailableError,), say=lines.append)
        started = time.perf_counter()
        result = dispatcher.dispatch(DispatchOptions(customer_id=None, dispatched_by="bench"))
        took = time.perf_counter() - started
        queued = queue.scheduled_count() + queue.pending_count()
        queue.close()
    assert result.dispatched == count == queued, (result.dispatched, queued, lines)
    return took, queued


def _child(count: int, results: multiprocessing.Queue[tuple[float, int]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        took, _ = measure(count, Path(folder))
    results.put((took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1000, 10000, 100000])
    args = parser.parse_args()
    print(f"{'customers':>10} {'seconds':>9} {'per second':>11} {'peak RSS MiB':>13}")
    context = multiprocessing.get_context("spawn")
    for count in args.customers:
        results: multiprocessing.Queue[tuple[float, int]] = context.Queue()
        child = context.Process(target=_child, args=(count, results))
        child.start()
        took, peak_kib = results.get()
        child.join()
        print(f"{count:>10} {took:>9.1f} {count / took:>11.0f} {peak_kib / 1024:>13.1f}")


if __name__ == "__main__":
    main()
