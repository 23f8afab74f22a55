"""Each page's data, as the JSON shapes of the read side (`catalog.shapes`,
`catalog.fleet_shapes`): the HTML page renders it and `/api/...` returns it, so the two (and
the CLI's `--json`) can never disagree. Each function parses its query, calls `catalog`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from zuora_workflow_sync.catalog import fleet
from zuora_workflow_sync.catalog.fleet_shapes import (
    customer_detail_json,
    customer_item_json,
    overview_json,
    run_item_json,
)
from zuora_workflow_sync.catalog.references import WIDE_ID_MAX
from zuora_workflow_sync.catalog.shapes import (
    comparison_json,
    graph_json,
    history_item_json,
    page_json,
    summary_json,
    task_hit_json,
    workflow_json,
)
from zuora_workflow_sync.catalog.tasks import search_tasks
from zuora_workflow_sync.catalog.workflows import (
    check_status,
    compare_versions,
    list_workflows,
    show_workflow,
    workflow_history,
)
from zuora_workflow_sync.domain.fleet import RunFilter
from zuora_workflow_sync.domain.models import CustomerStatus, RunStatus, RunTrigger
from zuora_workflow_sync.domain.records import TaskFilter, WorkflowFilter
from zuora_workflow_sync.domain.task_graph import build_graph
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.web.context import (
    now,
    path_id,
    query_customer_id,
    query_limit,
    query_text,
    web,
)

JSON = dict[str, Any]
HISTORY_SHOWN = 200


def _choice(
    request: Request, name: str, values: type[CustomerStatus | RunStatus | RunTrigger]
) -> Any:
    text = query_text(request, name)
    if text is None:
        return None
    try:
        return values(text.lower())
    except ValueError:
        allowed = ", ".join(member.value for member in values)
        raise ConfigurationError(f"{name} is one of {allowed}") from None


def overview(request: Request) -> JSON:
    return overview_json(fleet.overview(web(request).runtime.engine, now()))


def customers(request: Request) -> JSON:
    page = fleet.list_customers(
        web(request).runtime.engine,
        search=query_text(request, "q"),
        status=_choice(request, "status", CustomerStatus),
        limit=query_limit(request),
        cursor=query_text(request, "cursor"),
    )
    moment = now()
    return page_json(page, lambda item: customer_item_json(item, moment))


def customer(request: Request) -> JSON:
    detail = fleet.customer_detail(web(request).runtime.engine, str(path_id(request, "id")))
    return customer_detail_json(detail, now())


def workflows(request: Request) -> JSON:
    wanted = WorkflowFilter(
        customer_id=query_customer_id(request),
        status=check_status(query_text(request, "status")),
        search=query_text(request, "q"),
    )
    engine = web(request).runtime.engine
    page = list_workflows(
        engine, wanted, limit=query_limit(request), cursor=query_text(request, "cursor")
    )
    return page_json(page, summary_json)


def _workflow_ref(request: Request) -> str:
    return str(path_id(request, "id", WIDE_ID_MAX))


def workflow(request: Request) -> JSON:
    engine = web(request).runtime.engine
    return workflow_json(
        show_workflow(engine, _workflow_ref(request), query_text(request, "version"))
    )


def history(request: Request) -> JSON:
    engine = web(request).runtime.engine
    record, page = workflow_history(
        engine, _workflow_ref(request), limit=HISTORY_SHOWN, cursor=query_text(request, "cursor")
    )
    return page_json(page, history_item_json, workflow=summary_json(record.summary))


def diff(request: Request) -> JSON:
    engine = web(request).runtime.engine
    comparison = compare_versions(
        engine, _workflow_ref(request), query_text(request, "from"), query_text(request, "to")
    )
    return comparison_json(comparison)


def graph(request: Request) -> JSON:
    shown = show_workflow(web(request).runtime.engine, _workflow_ref(request))
    return graph_json(build_graph(shown.version.document))


def tasks(request: Request) -> JSON:
    action_type = query_text(request, "action_type")
    wanted = TaskFilter(
        customer_id=query_customer_id(request),
        action_types=(action_type,) if action_type else (),
        object=query_text(request, "object"),
        priority=query_text(request, "priority"),
        workflow_status=check_status(query_text(request, "workflow_status")),
        text=query_text(request, "text"),
    )
    engine = web(request).runtime.engine
    page = search_tasks(
        engine, wanted, limit=query_limit(request), cursor=query_text(request, "cursor")
    )
    return page_json(page, task_hit_json)


def runs(request: Request) -> JSON:
    status = _choice(request, "status", RunStatus)
    wanted = RunFilter(
        customer_id=query_customer_id(request),
        statuses=(status,) if status is not None else (),
        queue=query_text(request, "queue"),
        trigger=_choice(request, "trigger", RunTrigger),
    )
    engine = web(request).runtime.engine
    page = fleet.list_runs(
        engine, wanted, limit=query_limit(request), cursor=query_text(request, "cursor")
    )
    return page_json(page, run_item_json)


def run(request: Request) -> JSON:
    item = fleet.show_run(web(request).runtime.engine, path_id(request, "id", WIDE_ID_MAX))
    return run_item_json(item)
