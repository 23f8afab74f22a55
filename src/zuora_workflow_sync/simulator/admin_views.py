"""JSON views and input checks for the admin API (`/__sim/...`), kept apart from its routes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from zuora_workflow_sync.simulator.limits import Quotas
from zuora_workflow_sync.simulator.state import SimulatorState
from zuora_workflow_sync.simulator.tenants import Tenant, Workflow, version_key


class AdminInputError(ValueError):
    """A bad admin request; becomes a 400 with `{"error": ...}`."""


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def read_json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        raw = await request.json()
    except ValueError as exc:
        raise AdminInputError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise AdminInputError("the body must be a JSON object")
    return raw


def base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def tenant_view(state: SimulatorState, tenant: Tenant, url: str) -> dict[str, Any]:
    runtime = state.runtimes[tenant.name]
    quotas = runtime.windows.quotas
    return {
        "name": tenant.name,
        "base_url": url,
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "tenant_type": tenant.tenant_type.value,
        "tenant_number": tenant.tenant_number,
        "entity_ids": list(tenant.entity_ids),
        "multi_entity": tenant.multi_entity,
        "workflow_count": len(tenant.workflows),
        "forbidden": runtime.forbidden,
        "revoked": runtime.revoked,
        "quotas": {"minute": quotas.minute, "hour": quotas.hour, "day": quotas.day},
        "concurrency_limit": runtime.gate.limit,
    }


def workflow_view(workflow: Workflow) -> dict[str, Any]:
    ordered = sorted(workflow.versions, key=lambda v: version_key(v.version))
    active = workflow.active_version()
    return {
        "id": workflow.id,
        "name": workflow.name,
        "status": workflow.status,
        "updated_at": workflow.updated_at,
        "active_version": {"id": active.id, "version": active.version},
        "latest_version": {"id": ordered[-1].id, "version": ordered[-1].version},
        "versions": [{"id": v.id, "version": v.version} for v in ordered],
    }


def positive_int(raw: Any, name: str, allow_zero: bool = False) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < (0 if allow_zero else 1):
        raise AdminInputError(f"{name} must be an integer >= {0 if allow_zero else 1}")
    return raw


def quotas_from(raw: Any) -> Quotas | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != {"minute", "hour", "day"}:
        raise AdminInputError("quotas must be null or an object with minute, hour and day")
    return Quotas(*(positive_int(raw[key], f"quotas.{key}") for key in ("minute", "hour", "day")))


def flag(raw: dict[str, Any], name: str) -> bool | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, bool):
        raise AdminInputError(f"{name} must be a boolean")
    return value
