"""`/api/...`: each page's data as JSON, in the shapes of the CLI's `--json` (docs/json.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from zuora_workflow_sync.catalog.references import WIDE_ID_MAX
from zuora_workflow_sync.catalog.workflows import show_workflow
from zuora_workflow_sync.web import views
from zuora_workflow_sync.web.context import path_id, query_text, web


def _json(view: Callable[[Request], Any]) -> Callable[[Request], JSONResponse]:
    def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(view(request))

    endpoint.__name__ = f"api_{view.__name__}"
    return endpoint


def _export(request: Request) -> JSONResponse:
    """The export document itself (what the workflow page's Download serves, parsed)."""
    engine = web(request).runtime.engine
    reference = str(path_id(request, "id", WIDE_ID_MAX))
    shown = show_workflow(engine, reference, query_text(request, "version"))
    return JSONResponse(shown.version.document)


ROUTES = [
    Route("/api/overview", _json(views.overview)),
    Route("/api/customers", _json(views.customers)),
    Route("/api/customers/{id}", _json(views.customer)),
    Route("/api/workflows", _json(views.workflows)),
    Route("/api/workflows/{id}", _json(views.workflow)),
    Route("/api/workflows/{id}/history", _json(views.history)),
    Route("/api/workflows/{id}/diff", _json(views.diff)),
    Route("/api/workflows/{id}/graph", _json(views.graph)),
    Route("/api/workflows/{id}/export", _export),
    Route("/api/tasks", _json(views.tasks)),
    Route("/api/runs", _json(views.runs)),
    Route("/api/runs/{id}", _json(views.run)),
]
