"""`JobSession`: a worker thread's jobs share one loop, HTTP pool and Redis client, and each
job still ends clean (its tasks cancelled, its customer's data not carried over)."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.polling import wait_until
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store.tables import SyncRunRow, WorkflowRow
from zuora_workflow_sync.sync.client_factory import client_settings
from zuora_workflow_sync.sync.job import execute_run
from zuora_workflow_sync.sync.session import JobSession, current_session, thread_session

from .conftest import AddCustomer, record_run


def test_tasks_a_job_leaves_behind_are_cancelled_when_it_ends(runtime: Runtime) -> None:
    session = JobSession(runtime.settings)
    started = asyncio.Event()
    left: list[asyncio.Task[None]] = []

    async def job() -> str:
        async def forever() -> None:
            started.set()
            await asyncio.sleep(3600)

        left.append(asyncio.get_running_loop().create_task(forever()))
        await started.wait()
        return "done"

    try:
        assert session.run(job()) == "done"
        assert left[0].cancelled()
    finally:
        session.close()


def test_closed_session_refuses_jobs_and_closes_once(runtime: Runtime) -> None:
    session = JobSession(runtime.settings)
    session.close()
    session.close()

    async def job() -> None:
        return None

    with pytest.raises(RuntimeError, match="closed"):
        session.run(job())


def test_thread_session_is_current_only_inside_its_block(runtime: Runtime) -> None:
    assert current_session() is None
    with thread_session(runtime.settings) as session:
        assert current_session() is session
    assert current_session() is None
    with pytest.raises(RuntimeError, match="closed"):
        session.run(asyncio.sleep(0))


class _CookieServer(http.server.BaseHTTPRequestHandler):
    """Sets a cookie on /set; answers /echo with the Cookie header it received."""

    def do_GET(self) -> None:
        body = (self.headers.get("Cookie") or "").encode()
        self.send_response(200)
        if self.path == "/set":
            self.send_header("Set-Cookie", "session=customer-a; Path=/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


def test_pool_sends_no_cookie_when_an_earlier_response_set_one(runtime: Runtime) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CookieServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    session = JobSession(runtime.settings)

    async def one_customer_then_another() -> str:
        pool = session.http(client_settings(runtime.settings).transport, 4)
        first = await pool.get(f"{base}/set")
        assert first.headers["set-cookie"].startswith("session=")
        return (await pool.get(f"{base}/echo")).text

    try:
        assert session.run(one_customer_then_another()) == ""
    finally:
        session.close()
        server.shutdown()
        server.server_close()


def _stored_workflows(runtime: Runtime, customer_id: int) -> int:
    with runtime.engine.connect() as conn:
        query = select(func.count()).where(WorkflowRow.customer_id == customer_id)
        return int(conn.execute(query).scalar_one())


def _hand_over(runtime: Runtime, run_id: int, worker_id: str, session: JobSession) -> None:
    """Read Zuora for `run_id` and leave its ledger transaction to the session's finisher."""
    outcome = execute_run(
        runtime, run_id, worker_id=worker_id, requeue=lambda *_: None, session=session
    )
    assert outcome.status == "finishing", outcome.error


def test_ledger_transaction_is_finished_on_the_finisher_when_the_session_finishes_later(
    runtime: Runtime, add_customer: AddCustomer
) -> None:
    customer = add_customer("tenant-001")
    run = record_run(runtime, customer.id)
    session = JobSession(runtime.settings, finishes_later=True)
    try:
        _hand_over(runtime, run.run_id, "w", session)
    finally:
        session.close()  # waits for the hand-over

    finished = runtime.ledger.get(run.run_id)
    assert finished is not None and finished.status is RunStatus.SUCCEEDED
    assert finished.counts.listed == _stored_workflows(runtime, customer.id) > 0


def test_finisher_writes_nothing_when_the_lease_was_taken_over_before_it_ran(
    runtime: Runtime, add_customer: AddCustomer
) -> None:
    customer = add_customer("tenant-001")
    run = record_run(runtime, customer.id)
    session = JobSession(runtime.settings, finishes_later=True)
    taken: list[object] = []

    def take_over_once_claimed() -> None:
        """Busy on the finisher ahead of the job: once the job holds the run, its lease
        expires and another worker takes the run over."""
        wait_until(
            lambda: (
                (current := runtime.ledger.get(run.run_id)) is not None and current.attempt == 1
            ),
            timeout=30,
            what="the job to claim its run",
            interval=0.005,
        )
        with runtime.engine.begin() as conn:
            conn.execute(
                update(SyncRunRow)
                .where(SyncRunRow.id == run.run_id)
                .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        taken.append(runtime.ledger.claim(run.run_id, "other", 60.0))

    session.finish_later(take_over_once_claimed)
    try:
        _hand_over(runtime, run.run_id, "slow", session)
    finally:
        session.close()

    assert len(taken) == 1 and taken[0] is not None
    current = runtime.ledger.get(run.run_id)
    assert current is not None and current.status is RunStatus.RUNNING
    assert (current.attempt, current.lease_owner) == (2, "other")
    assert _stored_workflows(runtime, customer.id) == 0


def test_handed_over_transaction_starts_only_once_the_next_job_is_under_way(
    runtime: Runtime,
) -> None:
    session = JobSession(runtime.settings, finishes_later=True, finish_wait_seconds=30.0)
    started: dict[str, float] = {}

    def finish() -> None:
        started["finish"] = time.monotonic()

    async def next_job() -> None:
        started["job"] = time.monotonic()
        await asyncio.sleep(0.05)

    try:
        session.finish_later(finish)
        time.sleep(0.2)
        assert "finish" not in started  # held back while the thread is between jobs
        session.run(next_job())
        session.wait_finished()
    finally:
        session.close()
    assert started["job"] <= started["finish"]


def test_handed_over_transaction_runs_after_its_wait_when_no_job_follows(
    runtime: Runtime,
) -> None:
    session = JobSession(runtime.settings, finishes_later=True, finish_wait_seconds=0.05)
    done = threading.Event()
    try:
        session.finish_later(done.set)
        assert done.wait(10.0)  # nobody ran a job nor waited for it
    finally:
        session.close()
