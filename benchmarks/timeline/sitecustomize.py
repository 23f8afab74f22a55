"""Job timelines for `sync_throughput.py --timeline`: loaded by its worker processes only.

Python imports `sitecustomize` at start-up from PYTHONPATH; the benchmark puts this folder there
and names an output folder in ZWS_BENCH_TIMELINE. Each worker then records, on the shared
monotonic clock, when every job starts, has claimed its run, enters and leaves the tenant's
pacing gate, sends and receives each request, and ends, and writes them to `<pid>.json` in that
folder at exit. It wraps product functions from outside; the product itself is unchanged.

`cpu_per_request.py` names a file in ZWS_BENCH_CPU instead: the process then notes its CPU time
(every thread's, `time.process_time`) when its first request to Zuora is sent, and writes it
with its CPU time at exit and its request count: start-up (imports, settings, store) left out.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

Event = tuple[float, str, float]  # when, what, and for "pacing_out" the seconds it took


def _install(folder: Path) -> None:
    import zuora_workflow_sync.pacing.gate as gate
    import zuora_workflow_sync.sync.job as job
    import zuora_workflow_sync.zuora.client as client

    events: list[Event] = []
    clock = time.monotonic

    execute_run, claim = _original(job, "execute_run"), _original(job, "_claim")
    exchange, admit = _original(client, "exchange"), _original(gate.PacingGate, "_admit")

    def timed_execute_run(*args: Any, **kwargs: Any) -> Any:
        events.append((clock(), "job_start", 0.0))
        try:
            return execute_run(*args, **kwargs)
        finally:
            events.append((clock(), "job_end", 0.0))

    def timed_claim(*args: Any, **kwargs: Any) -> Any:
        result = claim(*args, **kwargs)
        events.append((clock(), "claimed", 0.0))
        return result

    async def timed_exchange(*args: Any, **kwargs: Any) -> Any:
        events.append((clock(), "send", 0.0))
        try:
            return await exchange(*args, **kwargs)
        finally:
            events.append((clock(), "receive", 0.0))

    async def timed_admit(*args: Any, **kwargs: Any) -> Any:
        entered = clock()
        events.append((entered, "pacing_in", 0.0))
        result = await admit(*args, **kwargs)
        left = clock()
        events.append((left, "pacing_out", left - entered))
        return result

    _replace(job, "execute_run", timed_execute_run)
    _replace(job, "_claim", timed_claim)
    _replace(client, "exchange", timed_exchange)
    _replace(gate.PacingGate, "_admit", timed_admit)

    def write() -> None:
        (folder / f"{os.getpid()}.json").write_text(json.dumps(events))

    atexit.register(write)


def _install_cpu_probe(path: Path) -> None:
    import zuora_workflow_sync.zuora.client as client

    probe: dict[str, Any] = {"first": None, "requests": 0}

    def counted(name: str) -> None:
        method = _original(client.ZuoraClient, name)

        async def counted_request(*args: Any, **kwargs: Any) -> Any:
            if probe["first"] is None:  # before its pacing step
                probe["first"] = time.process_time()
            probe["requests"] += 1
            return await method(*args, **kwargs)

        _replace(client.ZuoraClient, name, counted_request)

    counted("_get")  # each API request
    counted("_request_token")  # each token request

    def write() -> None:
        probe["end"] = time.process_time()
        path.write_text(json.dumps(probe))

    atexit.register(write)


def _original(owner: Any, name: str) -> Any:
    return getattr(owner, name)


def _replace(owner: Any, name: str, value: Any) -> None:
    setattr(owner, name, value)


_folder = os.environ.get("ZWS_BENCH_TIMELINE")
if _folder and "worker" in sys.argv:
    _install(Path(_folder))
_cpu_path = os.environ.get("ZWS_BENCH_CPU")
if _cpu_path:
    _install_cpu_probe(Path(_cpu_path))
