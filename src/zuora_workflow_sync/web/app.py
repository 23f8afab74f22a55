"""`create_app(runtime)`: the dashboard's Starlette app, built on demand (never at import).

Middleware, outermost first: the security headers, the signed session cookie, then the gate
that sends a visitor without a role to the login form (a 401 for `/api/...` and `/metrics`).
A name that does not exist is a 404 page, bad input a 400 page, each with a one-line reason.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from zuora_workflow_sync.catalog.references import NotFoundError
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.monitoring.logs import clean
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.web import actions, api, health, login, pages
from zuora_workflow_sync.web.context import STATIC, WebContext, render, template_environment
from zuora_workflow_sync.web.graph_svg import chosen_layout
from zuora_workflow_sync.web.security import Access, SecurityHeaders, is_public

SESSION_COOKIE = "zws_session"


def _routes() -> list[Route | Mount]:
    return [
        Route("/", pages.overview),
        Route("/customers", pages.customers),
        Route("/customers/{id}", pages.customer),
        Route("/customers/{id}/sync", actions.sync_now, methods=["POST"]),
        Route("/customers/{id}/force-sync", actions.sync_now, methods=["POST"]),
        Route("/customers/{id}/reset", actions.reset_circuit, methods=["POST"]),
        Route("/customers/{id}/pause", actions.set_status, methods=["POST"]),
        Route("/customers/{id}/resume", actions.set_status, methods=["POST"]),
        Route("/workflows", pages.workflows),
        Route("/workflows/{id}", pages.workflow),
        Route("/workflows/{id}/export.json", pages.export),
        Route("/workflows/{id}/graph.svg", pages.graph_svg),
        Route("/workflows/{id}/diff", pages.diff),
        Route("/tasks", pages.tasks),
        Route("/runs", pages.runs),
        Route("/runs/{id}", pages.run),
        Route("/runs/{id}/retry", actions.retry, methods=["POST"]),
        Route("/login", login.login_form),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/healthz", health.healthz),
        Route("/readyz", health.readyz),
        Route("/metrics", health.metrics),
        *api.ROUTES,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


async def _gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    access: Access = request.app.state.web.access
    found = access.role(request)
    if found is None and not is_public(request.url.path):
        path = request.url.path
        if path.startswith("/api/") or path == "/metrics":
            return JSONResponse({"error": "log in first"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
    request.state.role = found
    return await call_next(request)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(request, exc, 404)


async def _bad_input(request: Request, exc: Exception) -> Response:
    return _error(request, exc, 400)


def _error(request: Request, exc: Exception, status: int) -> Response:
    message = clean(str(exc))
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "error.html", status_code=status, code=status, message=message)


def create_app(
    runtime: Runtime,
    *,
    access: Access | None = None,
    session_key: SecretStr | None = None,
    https_only: bool | None = None,
    graph_layout: str | None = None,
) -> Starlette:
    """The dashboard over `runtime`; the arguments default to `runtime.settings`."""
    from zuora_workflow_sync.monitoring.fleet_metrics import dashboard_registry

    settings = runtime.settings
    access = access or Access(settings.dashboard_token, settings.dashboard_read_token)
    key = session_key or settings.dashboard_session_key or SecretStr(secrets.token_urlsafe(32))
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=key.get_secret_value(),
            session_cookie=SESSION_COOKIE,
            max_age=int(settings.dashboard_session_seconds),
            same_site="strict",
            https_only=settings.dashboard_https if https_only is None else https_only,
        ),
        Middleware(BaseHTTPMiddleware, dispatch=_gate),
    ]
    app = Starlette(
        routes=_routes(),
        middleware=middleware,
        exception_handlers={NotFoundError: _not_found, ConfigurationError: _bad_input},
    )
    layout = chosen_layout(graph_layout or settings.graph_layout)
    app.state.web = WebContext(runtime, access, template_environment(), layout)
    app.state.metrics_registry = dashboard_registry(runtime.engine)
    return app
