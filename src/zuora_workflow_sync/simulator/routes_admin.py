"""The admin API under `/__sim/` (not Zuora's): tenants, workflow changes, switches, faults, clock,
stats and reset. JSON in and out, no auth; docs/simulator.md is its reference.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from zuora_workflow_sync.simulator import changes
from zuora_workflow_sync.simulator.admin_views import (
    AdminInputError,
    base_url,
    error,
    flag,
    positive_int,
    quotas_from,
    read_json,
    tenant_view,
    workflow_view,
)
from zuora_workflow_sync.simulator.faults import rule_from_dict
from zuora_workflow_sync.simulator.generation import add_tenant, tenant_name
from zuora_workflow_sync.simulator.state import SimulatorState
from zuora_workflow_sync.simulator.tenants import Tenant, TenantType, Workflow

AdminHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PREFIX = "/__sim"


def guarded(handler: AdminHandler) -> AdminHandler:
    """Turn input errors into 400 `{"error": ...}` responses."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (AdminInputError, ValueError) as exc:
            return error(400, str(exc))

    return run


def _ok(payload: Any = None, status: int = 200) -> web.Response:
    return web.json_response({"ok": True} if payload is None else payload, status=status)


class AdminRoutes:
    """Handlers of the admin API, bound to one simulator state."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def register(self, router: web.UrlDispatcher) -> None:
        routes: list[tuple[str, str, AdminHandler]] = [
            ("GET", "/health", self.health),
            ("POST", "/reset", self.reset),
            ("GET", "/tenants", self.list_tenants),
            ("POST", "/tenants", self.create_tenant),
            ("GET", "/tenants/{tenant}", self.get_tenant),
            ("PATCH", "/tenants/{tenant}", self.patch_tenant),
            ("GET", "/tenants/{tenant}/workflows", self.list_workflows),
            ("PUT", "/tenants/{tenant}/workflows", self.set_workflow_count),
            ("POST", "/tenants/{tenant}/workflows", self.add_workflow),
            ("PATCH", "/tenants/{tenant}/workflows/{workflow_id}", self.edit_workflow),
            ("DELETE", "/tenants/{tenant}/workflows/{workflow_id}", self.delete_workflow),
            ("POST", "/tenants/{tenant}/workflows/{workflow_id}/versions", self.add_version),
            ("GET", "/settings", self.get_settings),
            ("PATCH", "/settings", self.patch_settings),
            ("GET", "/faults", self.list_faults),
            ("POST", "/faults", self.add_fault),
            ("DELETE", "/faults", self.clear_faults),
            ("DELETE", "/faults/{rule_id}", self.delete_fault),
            ("GET", "/clock", self.get_clock),
            ("POST", "/clock/advance", self.advance_clock),
            ("GET", "/stats", self.get_stats),
            ("DELETE", "/stats", self.reset_stats),
        ]
        for method, path, handler in routes:
            router.add_route(method, PREFIX + path, guarded(handler))

    def _tenant(self, request: web.Request) -> Tenant:
        tenant = self.state.universe.tenants.get(request.match_info["tenant"])
        if tenant is None:
            raise web.HTTPNotFound(
                text='{"error":"unknown tenant"}', content_type="application/json"
            )
        return tenant

    def _workflow(self, request: web.Request) -> tuple[Tenant, Workflow]:
        tenant = self._tenant(request)
        raw = request.match_info["workflow_id"]
        workflow = tenant.workflows.get(int(raw)) if raw.isdigit() else None
        if workflow is None:
            raise web.HTTPNotFound(
                text='{"error":"unknown workflow"}', content_type="application/json"
            )
        return tenant, workflow

    async def health(self, request: web.Request) -> web.StreamResponse:
        return _ok({"status": "ok"})

    async def reset(self, request: web.Request) -> web.StreamResponse:
        self.state.reset()
        return _ok()

    async def list_tenants(self, request: web.Request) -> web.StreamResponse:
        url = base_url(request)
        tenants = self.state.universe.tenants.values()
        return _ok({"tenants": [tenant_view(self.state, t, url) for t in tenants]})

    async def create_tenant(self, request: web.Request) -> web.StreamResponse:
        raw = await read_json(request)
        universe = self.state.universe
        name = raw.get("name") or _free_name(universe.tenants)
        if not isinstance(name, str) or name in universe.tenants:
            raise AdminInputError(f"tenant name {name!r} is taken or not a string")
        kind = TenantType(raw["tenant_type"]) if raw.get("tenant_type") else None
        count = positive_int(raw.get("workflows", 0), "workflows", allow_zero=True)
        entities = raw.get("entity_count")
        entity_count = None if entities is None else positive_int(entities, "entity_count")
        tenant = add_tenant(universe, name, count, kind, entity_count)
        self.state.register_tenant(tenant)
        return _ok(tenant_view(self.state, tenant, base_url(request)), status=201)

    async def get_tenant(self, request: web.Request) -> web.StreamResponse:
        return _ok(tenant_view(self.state, self._tenant(request), base_url(request)))

    async def patch_tenant(self, request: web.Request) -> web.StreamResponse:
        tenant, raw = self._tenant(request), await read_json(request)
        unknown = set(raw) - {"forbidden", "revoked", "quotas", "concurrency_limit"}
        if unknown:
            raise AdminInputError(f"unknown tenant fields: {sorted(unknown)}")
        runtime = self.state.runtimes[tenant.name]
        forbidden, revoked = flag(raw, "forbidden"), flag(raw, "revoked")
        if forbidden is not None:
            runtime.forbidden = forbidden
        if revoked is not None:
            self.state.set_revoked(tenant, revoked)
        if "quotas" in raw:
            runtime.set_quotas(quotas_from(raw["quotas"]), tenant)
        if "concurrency_limit" in raw:
            self.state.set_concurrency_limit(tenant, raw["concurrency_limit"])
        return _ok(tenant_view(self.state, tenant, base_url(request)))

    async def list_workflows(self, request: web.Request) -> web.StreamResponse:
        tenant = self._tenant(request)
        return _ok({"workflows": [workflow_view(w) for w in tenant.sorted_workflows()]})

    async def set_workflow_count(self, request: web.Request) -> web.StreamResponse:
        tenant, raw = self._tenant(request), await read_json(request)
        changes.set_workflow_count(
            self.state, tenant, positive_int(raw.get("count"), "count", True)
        )
        return _ok({"workflows": [workflow_view(w) for w in tenant.sorted_workflows()]})

    async def add_workflow(self, request: web.Request) -> web.StreamResponse:
        tenant, raw = self._tenant(request), await read_json(request)
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise AdminInputError("name must be a string")
        workflow = changes.add_workflow(self.state, tenant, name)
        return _ok(workflow_view(workflow), status=201)

    async def edit_workflow(self, request: web.Request) -> web.StreamResponse:
        (tenant, workflow), raw = self._workflow(request), await read_json(request)
        active = raw.pop("active_version_id", None)
        if active is not None:
            changes.activate_version(
                self.state, tenant, workflow, positive_int(active, "active_version_id")
            )
        if raw or active is None:
            changes.edit_definition(self.state, tenant, workflow, raw)
        return _ok(workflow_view(workflow))

    async def delete_workflow(self, request: web.Request) -> web.StreamResponse:
        tenant, workflow = self._workflow(request)
        changes.delete_workflow(self.state, tenant, workflow.id)
        return _ok()

    async def add_version(self, request: web.Request) -> web.StreamResponse:
        (tenant, workflow), raw = self._workflow(request), await read_json(request)
        activate = flag(raw, "activate") or False
        version = changes.add_version(self.state, tenant, workflow, activate)
        view = workflow_view(workflow)
        view["new_version"] = {"id": version.id, "version": version.version}
        return _ok(view, status=201)

    async def get_settings(self, request: web.Request) -> web.StreamResponse:
        return _ok(self.state.settings.to_dict())

    async def patch_settings(self, request: web.Request) -> web.StreamResponse:
        raw = await read_json(request)
        self.state.apply_settings(self.state.settings.updated(raw))
        return _ok(self.state.settings.to_dict())

    async def list_faults(self, request: web.Request) -> web.StreamResponse:
        return _ok({"faults": [rule.to_dict() for rule in self.state.faults.rules()]})

    async def add_fault(self, request: web.Request) -> web.StreamResponse:
        rule = self.state.faults.add(rule_from_dict(await read_json(request)))
        return _ok(rule.to_dict(), status=201)

    async def clear_faults(self, request: web.Request) -> web.StreamResponse:
        self.state.faults.clear()
        return _ok()

    async def delete_fault(self, request: web.Request) -> web.StreamResponse:
        raw = request.match_info["rule_id"]
        if not (raw.isdigit() and self.state.faults.remove(int(raw))):
            return error(404, f"no fault rule {raw}")
        return _ok()

    async def get_clock(self, request: web.Request) -> web.StreamResponse:
        return _ok(self._clock_view())

    async def advance_clock(self, request: web.Request) -> web.StreamResponse:
        seconds = (await read_json(request)).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            raise AdminInputError("seconds must be a non-negative number")
        self.state.clock.advance(float(seconds))
        return _ok(self._clock_view())

    def _clock_view(self) -> dict[str, Any]:
        clock = self.state.clock
        return {"offset_seconds": clock.offset_seconds, "now": clock.now().isoformat()}

    async def get_stats(self, request: web.Request) -> web.StreamResponse:
        return _ok(self.state.stats.snapshot())

    async def reset_stats(self, request: web.Request) -> web.StreamResponse:
        self.state.stats.reset()
        return _ok()


def _free_name(tenants: dict[str, Tenant]) -> str:
    index = len(tenants) + 1
    while tenant_name(index) in tenants:
        index += 1
    return tenant_name(index)
