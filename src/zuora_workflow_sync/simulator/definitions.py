"""`GET /workflows/{id}`, its `/versions` and `/export`, and `GET /workflows/metrics.json`.

Shapes and error bodies follow zuora-api.md 3.4-3.7.
"""

from __future__ import annotations

import re
import zlib
from datetime import date, timedelta

from zuora_workflow_sync.simulator.replies import Exchange, Reply, json_reply, workflow_errors
from zuora_workflow_sync.simulator.state import SimulatorState
from zuora_workflow_sync.simulator.tenants import Tenant, Workflow, WorkflowVersion

_VERSION_PATTERN = re.compile(r"\d+\.\d+\.\d+")
MAX_METRIC_DAYS = 366


def workflow_id_hint(exchange_id: str) -> int | None:
    return int(exchange_id) if exchange_id.isdigit() else None


def _find(exchange: Exchange) -> tuple[Tenant, Workflow | None]:
    tenant = exchange.tenant
    assert tenant is not None
    workflow_id = workflow_id_hint(exchange.request.match_info["workflow_id"])
    return tenant, tenant.workflows.get(workflow_id) if workflow_id is not None else None


def not_found(tenant: Tenant, raw_id: str) -> Reply:
    """The DELETE/PATCH 404 body, used for GET too (unconfirmed, zuora-api.md 3.4)."""
    detail = f"SchemaId: 2 InstanceId: {tenant.tenant_number} ObjectId: {raw_id}"
    return json_reply(404, {"errors": [f"Invalid ID / Multiple objects returned - {detail}"]})


def retrieve(state: SimulatorState, exchange: Exchange) -> Reply:
    tenant, workflow = _find(exchange)
    if workflow is None:
        return not_found(tenant, exchange.request.match_info["workflow_id"])
    return Reply(200, state.cache.definition(workflow))


def versions(state: SimulatorState, exchange: Exchange) -> Reply:
    tenant, workflow = _find(exchange)
    if workflow is None:
        return not_found(tenant, exchange.request.match_info["workflow_id"])
    return Reply(200, state.cache.versions(workflow))


def export(state: SimulatorState, exchange: Exchange) -> Reply:
    tenant, workflow = _find(exchange)
    if workflow is None:
        return not_found(tenant, exchange.request.match_info["workflow_id"])
    requested = exchange.request.query.get("version")
    version = _pick_version(workflow, requested)
    if isinstance(version, Reply):
        return version
    return Reply(200, state.cache.export(workflow, version))


def _pick_version(workflow: Workflow, requested: str | None) -> WorkflowVersion | Reply:
    if requested is None:
        return workflow.active_version()
    if requested == "latest":
        return workflow.latest_version()
    if not _VERSION_PATTERN.fullmatch(requested):
        return workflow_errors(400, f"The input of version '{requested}' is invalid.")
    found = workflow.find_version(requested)
    if found is None:
        return workflow_errors(
            404, f"Workflow version '{requested}' is not found.", body_status=400
        )
    return found


def metrics(state: SimulatorState, exchange: Exchange) -> Reply:
    """Daily task counts, deterministic per tenant and day, sorted by date."""
    assert exchange.tenant is not None
    query = exchange.request.query
    for name in ("startDate", "endDate", "metrics"):
        if not query.get(name):
            return workflow_errors(400, f"The parameter {name} is required.")
    if query["metrics"] != "taskCount":
        return workflow_errors(400, f"The input of metrics '{query['metrics']}' is invalid.")
    try:
        start, end = date.fromisoformat(query["startDate"]), date.fromisoformat(query["endDate"])
    except ValueError:
        return workflow_errors(400, "startDate and endDate must be dates like 2019-01-31.")
    days = (end - start).days + 1
    if days < 1 or days > MAX_METRIC_DAYS:
        return workflow_errors(400, f"The date range must cover 1 to {MAX_METRIC_DAYS} days.")
    name = exchange.tenant.name
    rows = [_usage(name, start + timedelta(days=offset)) for offset in range(days)]
    return json_reply(200, {"metrics": rows})


def _usage(tenant: str, day: date) -> dict[str, object]:
    count = zlib.crc32(f"{tenant}/{day.isoformat()}".encode()) % 2000
    return {"date": day.isoformat(), "values": {"taskCount": count}}
