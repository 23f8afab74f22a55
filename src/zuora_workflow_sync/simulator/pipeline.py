"""The path every Zuora request takes: accounting, bearer auth, rate and concurrency limits,
entity and permission checks, latency and faults, then the route's own handler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from zuora_workflow_sync.simulator.fault_replies import Outcome, apply_fault
from zuora_workflow_sync.simulator.faults import FaultRule, Route
from zuora_workflow_sync.simulator.limits import (
    CONCURRENCY_RETRY_AFTER_SECONDS,
    concurrency_exceeded_body,
)
from zuora_workflow_sync.simulator.replies import (
    AUTHENTICATION_ERROR,
    Exchange,
    Reply,
    common_error,
    json_reply,
)
from zuora_workflow_sync.simulator.state import SimulatorState, TenantRuntime
from zuora_workflow_sync.simulator.tenants import Tenant

Handler = Callable[[SimulatorState, Exchange], Reply]

PERMISSION_DENIED_CODE = 50000010
MISSING_ENTITY_CODE = 50000023
NO_VIEW_ACCESS = (
    "You do not have the Workflow View Access permission. "
    "Contact your Zuora administrator to be granted access to Workflow."
)


async def serve_data(
    state: SimulatorState,
    request: web.Request,
    route: Route,
    handler: Handler,
    page: int | None = None,
    workflow_id: int | None = None,
) -> web.StreamResponse:
    """Run one data call through the whole pipeline and record it in the stats."""
    exchange = Exchange(request, route)
    generation = state.stats.enter()
    label: int | str = 500
    try:
        response, label = await _authenticated(state, exchange, handler, page, workflow_id)
        return response
    finally:
        state.stats.leave()
        state.stats.record(
            exchange.tenant.name if exchange.tenant else None, route.value, label, generation
        )


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _authenticated(
    state: SimulatorState,
    exchange: Exchange,
    handler: Handler,
    page: int | None,
    workflow_id: int | None,
) -> Outcome:
    token = bearer_token(exchange.request)
    tenant = state.tenant_for_token(token) if token else None
    if tenant is None:
        return send(exchange, json_reply(401, AUTHENTICATION_ERROR))
    exchange.tenant = tenant
    runtime = state.runtimes[tenant.name]
    verdict = runtime.windows.count(state.clock.monotonic())
    exchange.headers.update(verdict.headers())
    if not verdict.allowed:
        return send(exchange, json_reply(429, verdict.exceeded_body()))
    if not runtime.gate.try_enter():
        return send(exchange, _concurrency_refusal(state, runtime))
    try:
        return await _admitted(state, exchange, tenant, runtime, handler, page, workflow_id)
    finally:
        runtime.gate.leave()


async def _admitted(
    state: SimulatorState,
    exchange: Exchange,
    tenant: Tenant,
    runtime: TenantRuntime,
    handler: Handler,
    page: int | None,
    workflow_id: int | None,
) -> Outcome:
    """Inside the tenant's concurrency slot: entity and permission checks, faults, the handler."""
    state.stats.tenant_in_flight(tenant.name, runtime.gate.in_flight)
    if state.settings.concurrency_headers:
        exchange.headers.update(runtime.gate.headers())
    refusal = _access_refusal(state, exchange, tenant, runtime)
    if refusal is not None:
        return send(exchange, refusal)
    faults = state.faults
    rule = None if faults.empty else faults.pick(exchange.route, tenant.name, page, workflow_id)
    return await answer(state, exchange, lambda: handler(state, exchange), rule)


def _concurrency_refusal(state: SimulatorState, runtime: TenantRuntime) -> Reply:
    headers = {"Retry-After": str(CONCURRENCY_RETRY_AFTER_SECONDS)}
    if state.settings.concurrency_headers:
        headers.update(runtime.gate.headers())
    return json_reply(429, concurrency_exceeded_body(), headers)


def _access_refusal(
    state: SimulatorState, exchange: Exchange, tenant: Tenant, runtime: TenantRuntime
) -> Reply | None:
    entity = entity_refusal(state, exchange.request, tenant)
    if entity is not None:
        return entity
    if runtime.forbidden:
        return common_error(403, PERMISSION_DENIED_CODE, NO_VIEW_ACCESS)
    return None


def entity_refusal(state: SimulatorState, request: web.Request, tenant: Tenant) -> Reply | None:
    """403 for an entity id the tenant lacks; 400 when a multi-entity tenant sends none."""
    entity = request.headers.get("Zuora-Entity-Ids")
    if entity is None:
        if tenant.multi_entity and state.settings.require_entity_header:
            message = "Zuora-Entity-Ids header is required: this user can access multiple entities"
            return common_error(400, MISSING_ENTITY_CODE, message)
        return None
    if entity.strip() not in tenant.entity_ids:
        message = f"Invalid Zuora-Entity-Ids header: the user has no access to entity '{entity}'"
        return common_error(403, PERMISSION_DENIED_CODE, message)
    return None


async def answer(
    state: SimulatorState, exchange: Exchange, produce: Callable[[], Reply], rule: FaultRule | None
) -> Outcome:
    """Reply once the latency (and the rule's delay) has passed since the request arrived.

    The latency is the whole service time, as a client of Zuora sees it: a normal reply is
    built while it runs, so the simulator's own work is not added to it.
    """
    delay = state.latency_seconds() + (rule.delay_ms / 1000.0 if rule is not None else 0.0)
    if rule is not None:
        await _until(exchange.arrived + delay)
        return await apply_fault(rule, exchange, produce)
    reply = produce()
    response = exchange.respond(reply)
    await _until(exchange.arrived + delay)
    return response, reply.status


async def _until(deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


def send(exchange: Exchange, reply: Reply) -> Outcome:
    return exchange.respond(reply), reply.status
