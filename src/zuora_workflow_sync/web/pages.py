"""The HTML pages: each renders the data `views` gives `/api/...`, plus what only a page
needs (the graph drawn as SVG, the export as text, the chart of the last 24 hours)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from zuora_workflow_sync.catalog.files import document_text
from zuora_workflow_sync.catalog.references import WIDE_ID_MAX
from zuora_workflow_sync.catalog.shapes import workflow_json
from zuora_workflow_sync.catalog.workflows import WorkflowVersion, show_workflow
from zuora_workflow_sync.domain.task_graph import build_graph
from zuora_workflow_sync.web import views
from zuora_workflow_sync.web.charts import hourly_bars
from zuora_workflow_sync.web.context import now, path_id, query_text, render, web
from zuora_workflow_sync.web.graph_svg import render_svg


def overview(request: Request) -> HTMLResponse:
    data = views.overview(request)
    return render(
        request, "overview.html", data=data, chart=hourly_bars(data["runs_last_24h"], now())
    )


def customers(request: Request) -> HTMLResponse:
    return render(
        request, "customers.html", data=views.customers(request), query=dict(request.query_params)
    )


def customer(request: Request) -> HTMLResponse:
    return render(request, "customer.html", data=views.customer(request))


def workflows(request: Request) -> HTMLResponse:
    return render(
        request, "workflows.html", data=views.workflows(request), query=dict(request.query_params)
    )


def _shown(request: Request) -> WorkflowVersion:
    engine = web(request).runtime.engine
    reference = str(path_id(request, "id", WIDE_ID_MAX))
    return show_workflow(engine, reference, query_text(request, "version"))


def workflow(request: Request) -> HTMLResponse:
    shown = _shown(request)
    return render(
        request,
        "workflow.html",
        data=workflow_json(shown),
        history=views.history(request),
        export_text=document_text(shown.version.document),
        graph_svg=render_svg(build_graph(shown.version.document), web(request).graph_layout),
    )


def export(request: Request) -> Response:
    """The export document exactly as `workflows export` prints it, as a download."""
    shown = _shown(request)
    summary = shown.record.summary
    name = f"workflow-{summary.customer_id}-{summary.zuora_workflow_id}.json"
    return Response(
        document_text(shown.version.document).encode("utf-8"),
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


def graph_svg(request: Request) -> Response:
    svg = render_svg(build_graph(_shown(request).version.document), web(request).graph_layout)
    return Response(svg, media_type="image/svg+xml")


def diff(request: Request) -> HTMLResponse:
    return render(request, "diff.html", data=views.diff(request))


def tasks(request: Request) -> HTMLResponse:
    searched = any(
        request.query_params.get(name)
        for name in ("text", "action_type", "object", "priority", "customer", "workflow_status")
    )
    data = views.tasks(request) if searched else None
    return render(request, "tasks.html", data=data, query=dict(request.query_params))


def runs(request: Request) -> HTMLResponse:
    return render(request, "runs.html", data=views.runs(request), query=dict(request.query_params))


def run(request: Request) -> HTMLResponse:
    return render(request, "run.html", data=views.run(request))
