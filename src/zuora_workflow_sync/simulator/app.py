"""The aiohttp application: Zuora's routes (zuora-api.md section 9), the admin API, JSON 404s."""

from __future__ import annotations

import re

from aiohttp import web

from zuora_workflow_sync.simulator import definitions
from zuora_workflow_sync.simulator.definitions import workflow_id_hint
from zuora_workflow_sync.simulator.faults import Route
from zuora_workflow_sync.simulator.listing import list_workflows, page_hint
from zuora_workflow_sync.simulator.pipeline import Handler, serve_data
from zuora_workflow_sync.simulator.replies import Exchange, json_reply
from zuora_workflow_sync.simulator.routes_admin import AdminRoutes
from zuora_workflow_sync.simulator.state import SimulatorState
from zuora_workflow_sync.simulator.token_route import token_endpoint

STATE_KEY = web.AppKey("simulator_state", SimulatorState)
_KNOWN_PATHS = re.compile(r"^/(oauth/token|workflows(/metrics\.json|/[^/]+(/versions|/export)?)?)$")
MAX_REQUEST_BYTES = 1024 * 1024


class ZuoraRoutes:
    """Binds the Zuora handlers to one state; each goes through `pipeline.serve_data`."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_post("/oauth/token", self.token)
        router.add_get("/workflows", self.list)
        router.add_get("/workflows/metrics.json", self.metrics)
        router.add_get("/workflows/{workflow_id}", self.retrieve)
        router.add_get("/workflows/{workflow_id}/versions", self.versions)
        router.add_get("/workflows/{workflow_id}/export", self.export)

    async def token(self, request: web.Request) -> web.StreamResponse:
        return await token_endpoint(self.state, request)

    async def list(self, request: web.Request) -> web.StreamResponse:
        page = page_hint(request.query)
        return await serve_data(self.state, request, Route.LIST, list_workflows, page=page)

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        return await serve_data(self.state, request, Route.METRICS, definitions.metrics)

    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        return await self._one(request, Route.RETRIEVE, definitions.retrieve)

    async def versions(self, request: web.Request) -> web.StreamResponse:
        return await self._one(request, Route.VERSIONS, definitions.versions)

    async def export(self, request: web.Request) -> web.StreamResponse:
        return await self._one(request, Route.EXPORT, definitions.export)

    async def _one(
        self, request: web.Request, route: Route, handler: Handler
    ) -> web.StreamResponse:
        workflow_id = workflow_id_hint(request.match_info["workflow_id"])
        return await serve_data(self.state, request, route, handler, workflow_id=workflow_id)


async def fallback(request: web.Request) -> web.StreamResponse:
    """Unknown paths get 404 and known paths with another method 405, both as JSON."""
    exchange = Exchange(request, Route.LIST)
    if _KNOWN_PATHS.match(request.path):
        return exchange.respond(json_reply(405, {"message": "Method not allowed"}))
    return exchange.respond(json_reply(404, {"message": "no Route matched with those values"}))


def build_app(state: SimulatorState) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[STATE_KEY] = state
    ZuoraRoutes(state).register(app.router)
    AdminRoutes(state).register(app.router)
    app.router.add_route("*", "/{tail:.*}", fallback)
    return app
