"""`/healthz` (the process answers), `/readyz` (the database and the queue answer) and
`/metrics` (the fleet gauges, read from the database at scrape time, and this process's own
counters), in Prometheus' text format."""

from __future__ import annotations

import logging

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from zuora_workflow_sync.errors import WorkflowSyncError
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store.engine import reading
from zuora_workflow_sync.web.context import web

logger = logging.getLogger(__name__)


def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _problems(runtime: Runtime) -> dict[str, str]:
    from sqlalchemy.exc import SQLAlchemyError

    from zuora_workflow_sync.queue import open_queue

    problems: dict[str, str] = {}
    try:
        with reading(runtime.engine) as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        problems["database"] = type(exc).__name__
    try:
        queue = open_queue(runtime.settings.resolved_queue_url, runtime.settings.default_queue)
        try:
            queue.ping()
        finally:
            queue.close()
    except WorkflowSyncError as exc:
        problems["queue"] = str(exc)[:200]
    return problems


async def readyz(request: Request) -> Response:
    problems = await run_in_threadpool(_problems, web(request).runtime)
    if problems:
        logger.warning("not ready: %s", ", ".join(problems), extra={"event": "not_ready"})
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    registry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
