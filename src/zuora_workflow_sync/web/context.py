"""What every route of the dashboard shares: the runtime, the access rules, the templates,
and the helpers that parse a query and render a page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from zuora_workflow_sync.catalog.pages import DEFAULT_LIMIT
from zuora_workflow_sync.catalog.references import (
    CUSTOMER_ID_MAX,
    parse_number,
    resolve_customer,
)
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.web.security import Access, Role, csrf_token

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
MAX_QUERY_CHARS = 200


@dataclass(frozen=True)
class WebContext:
    runtime: Runtime
    access: Access
    templates: Environment
    graph_layout: str


def template_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True)
    )
    environment.filters["when"] = _when
    return environment


def _when(value: str | None) -> str:
    """An ISO time as `2026-12-04 10:00:00 UTC`, or "never"."""
    if not value:
        return "never"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def web(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def role(request: Request) -> Role | None:
    """The visitor's role, as the gate found it (None: not logged in, on a public page)."""
    found: Role | None = getattr(request.state, "role", None)
    return found


def render(request: Request, template: str, status_code: int = 200, **data: Any) -> HTMLResponse:
    """A page: the template with the visitor's role, the CSRF token and any flashed messages."""
    context = web(request)
    page = context.templates.get_template(template).render(
        request=request,
        role=None if role(request) is None else str(role(request)),
        can_act=role(request) is Role.ACT,
        csrf=csrf_token(request),
        login_required=not context.access.open,
        flashes=request.session.pop("flash", []),
        path=request.url.path,
        **data,
    )
    return HTMLResponse(page, status_code=status_code)


def flash(request: Request, message: str) -> None:
    request.session["flash"] = [*request.session.get("flash", []), message[:300]]


def query_text(request: Request, name: str) -> str | None:
    """A query parameter, stripped; None when absent or empty; too long is refused."""
    value = request.query_params.get(name, "").strip()
    if len(value) > MAX_QUERY_CHARS:
        raise ConfigurationError(f"{name} takes at most {MAX_QUERY_CHARS} characters")
    return value or None


def query_limit(request: Request) -> int:
    text = request.query_params.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    number = parse_number(text, 10**6)
    if number is None:
        raise ConfigurationError("limit is a positive whole number")
    return number


def query_customer_id(request: Request) -> int | None:
    """The `customer` parameter (an id or an exact name) as a customer id."""
    reference = query_text(request, "customer")
    if reference is None:
        return None
    return resolve_customer(web(request).runtime.engine, reference).id


def path_id(request: Request, name: str, maximum: int = CUSTOMER_ID_MAX) -> int:
    number = parse_number(str(request.path_params[name]), maximum)
    if number is None:
        raise ConfigurationError(f"{name} is a positive whole number")
    return number


def now() -> datetime:
    return datetime.now(UTC)
