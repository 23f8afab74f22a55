"""A worker thread's `JobSession` keeps its HTTP pool and its Redis client (or coordination file
stores) from one job to the next.

The syncs here send one request at a time (`export_concurrency=1`), so the number of connections
a sync needs is one whatever the timing: a second job that opened any connection would mean the
pool was not kept (with four exports in flight, a second sync may need one more connection than
the first had, and that proves nothing)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.backends import Backend
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.sync.client_factory import client_settings
from zuora_workflow_sync.sync.job import execute_run
from zuora_workflow_sync.sync.session import JobSession
from zuora_workflow_sync.zuora.aiohttp_transport import AiohttpTransport

from .conftest import AddCustomer, make_settings, record_run


@pytest.fixture
def settings(tmp_path: Path, backend: Backend) -> Settings:
    return make_settings(tmp_path, export_concurrency=1, **backend.settings_fields)


def _connections_opened(http: httpx.AsyncClient) -> int:
    transport = http._transport  # the AiohttpTransport that new_http_client gives it
    assert isinstance(transport, AiohttpTransport)
    return transport.connections_opened


def _pacing_store_threads(besides: frozenset[int] = frozenset()) -> list[int]:
    """The threads of open file pacing stores (one each), other than `besides`."""
    threads = [t.ident or 0 for t in threading.enumerate() if t.name.startswith("zws-pacing")]
    return [ident for ident in threads if ident not in besides]


def _sync(runtime: Runtime, customer_id: int, session: JobSession) -> None:
    run = record_run(runtime, customer_id, full=True)
    outcome = execute_run(
        runtime, run.run_id, worker_id="w", requeue=lambda *_: None, session=session
    )
    assert outcome.status == "succeeded", outcome.error
    finished = runtime.ledger.get(run.run_id)
    assert finished is not None and finished.status is RunStatus.SUCCEEDED


def test_jobs_of_one_session_reuse_its_connections_when_run_one_after_another(
    runtime: Runtime, add_customer: AddCustomer, sim_admin: SimulatorAdmin
) -> None:
    first, second = add_customer("tenant-001"), add_customer("tenant-002")
    earlier = frozenset(_pacing_store_threads())
    session = JobSession(runtime.settings)
    try:
        _sync(runtime, first.id, session)
        limits = client_settings(runtime.settings).transport
        http = session.http(limits, runtime.settings.export_concurrency + 2)
        opened = _connections_opened(http)
        redis = session.redis()
        pacing_threads = _pacing_store_threads(earlier)  # a file pacing store's, still open
        stores = session.run(session.file_stores())

        _sync(runtime, second.id, session)

        # The simulator serves every tenant on one origin, as Zuora serves its customers.
        assert opened == 1 and _connections_opened(http) == 1
        assert session.http(limits, 1) is http
        assert session.redis() is redis
        kept = session.run(session.file_stores())
        if runtime.settings.resolved_coordination_url.startswith("redis"):
            assert redis is not None and stores is None and kept is None
        else:  # the coordination file's pacing and token stores, as opened by the first job
            assert redis is None and stores is not None and kept is not None
            assert kept[0] is stores[0] and kept[1] is stores[1]
            assert len(pacing_threads) == 1 and _pacing_store_threads(earlier) == pacing_threads
    finally:
        session.close()
    assert sim_admin.stats()["totals"]["too_many_requests"] == 0
