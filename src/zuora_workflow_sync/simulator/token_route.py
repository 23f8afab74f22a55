"""`POST /oauth/token`: OAuth client credentials, form-encoded only (zuora-api.md 1.1 and 9.2).

The per-IP limit is checked first; bad credentials get the gateway's 401 body.
"""

from __future__ import annotations

import hmac
import uuid

from aiohttp import web

from zuora_workflow_sync.simulator.faults import Route
from zuora_workflow_sync.simulator.pipeline import PERMISSION_DENIED_CODE, answer, send
from zuora_workflow_sync.simulator.replies import (
    AUTHENTICATION_ERROR,
    Exchange,
    Reply,
    common_error,
    json_reply,
)
from zuora_workflow_sync.simulator.state import SimulatorState
from zuora_workflow_sync.simulator.tenants import Tenant

FORM_TYPE = "application/x-www-form-urlencoded"
INVALID_VALUE_CODE = 50000020
MISSING_FIELD_CODE = 50000022
MALFORMED_REQUEST_CODE = 50000090
Form = dict[str, str]


async def token_endpoint(state: SimulatorState, request: web.Request) -> web.StreamResponse:
    exchange = Exchange(request, Route.TOKEN)
    generation = state.stats.enter()
    label: int | str = 500
    try:
        response, label = await _token_flow(state, exchange)
        return response
    finally:
        state.stats.leave()
        state.stats.record(
            exchange.tenant.name if exchange.tenant else None, "token", label, generation
        )


async def _token_flow(
    state: SimulatorState, exchange: Exchange
) -> tuple[web.StreamResponse, int | str]:
    settings = state.settings
    allowed, headers = state.token_ips.count(
        exchange.request.remote or "unknown",
        state.clock.monotonic(),
        settings.token_ip_limit_per_minute,
        settings.token_ip_limit_enabled,
    )
    exchange.headers.update(headers)
    if not allowed:
        return send(
            exchange, json_reply(429, {"message": "API rate limit exceeded"}, {"Retry-After": "60"})
        )
    form = await _read_form(exchange.request)
    if isinstance(form, Reply):
        return send(exchange, form)
    tenant = state.by_client_id.get(form.get("client_id", ""))
    exchange.tenant = tenant
    faults = state.faults
    rule = None if faults.empty else faults.pick(Route.TOKEN, tenant.name if tenant else None)
    return await answer(state, exchange, lambda: _grant(state, exchange, form, tenant), rule)


async def _read_form(request: web.Request) -> Form | Reply:
    if request.content_type != FORM_TYPE:
        message = f"The request body must be {FORM_TYPE}"
        return common_error(400, MALFORMED_REQUEST_CODE, message)
    try:
        posted = await request.post()
    except web.HTTPRequestEntityTooLarge:
        return common_error(413, MALFORMED_REQUEST_CODE, "The request body is too large")
    except ValueError:
        return common_error(400, MALFORMED_REQUEST_CODE, "The request body is not valid form data")
    return {key: value for key, value in posted.items() if isinstance(value, str)}


def _grant(state: SimulatorState, exchange: Exchange, form: Form, tenant: Tenant | None) -> Reply:
    for field in ("grant_type", "client_id", "client_secret"):
        if not form.get(field):
            return common_error(400, MISSING_FIELD_CODE, f"{field} is required")
    if form["grant_type"] != "client_credentials":
        message = "Invalid grant_type: only client_credentials is supported"
        return common_error(400, INVALID_VALUE_CODE, message)
    if not _credentials_valid(state, tenant, form["client_secret"]):
        return json_reply(401, AUTHENTICATION_ERROR)
    assert tenant is not None
    entity = exchange.request.headers.get("Zuora-Entity-Ids")
    if entity is not None and entity.strip() not in tenant.entity_ids:
        message = f"Invalid Zuora-Entity-Ids header: the user has no access to entity '{entity}'"
        return common_error(403, PERMISSION_DENIED_CODE, message)
    return json_reply(200, _token_payload(state, tenant))


def _credentials_valid(state: SimulatorState, tenant: Tenant | None, secret: str) -> bool:
    if tenant is None or state.runtimes[tenant.name].revoked:
        return False
    return hmac.compare_digest(tenant.client_secret.encode(), secret.encode())


def _token_payload(state: SimulatorState, tenant: Tenant) -> dict[str, object]:
    entities = " ".join(f"entity.{entity}" for entity in tenant.entity_ids)
    return {
        "access_token": state.issue_token(tenant),
        "token_type": "bearer",
        "expires_in": state.settings.token_ttl_seconds,
        "scope": f"user.{tenant.user_id} {entities} tenant.{tenant.tenant_number}",
        "jti": uuid.uuid4().hex,
    }
