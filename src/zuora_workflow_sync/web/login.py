"""The login form and the logout: a token in, a role in the signed session cookie out."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from zuora_workflow_sync.web.context import render, web
from zuora_workflow_sync.web.security import CSRF_FIELD, csrf_valid

logger = logging.getLogger(__name__)


def _next_path(value: object) -> str:
    """Where to go after logging in: a path of this site only (never another host)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else "/"


def login_form(request: Request) -> Response:
    if web(request).access.open:
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", next=_next_path(request.query_params.get("next")))


async def login(request: Request) -> Response:
    form = await request.form()
    if not csrf_valid(request, form.get(CSRF_FIELD)):
        return PlainTextResponse("missing or wrong CSRF token", status_code=403)
    token = form.get("token")
    found = web(request).access.role_of(token) if isinstance(token, str) else None
    if found is None:
        logger.warning("dashboard login refused", extra={"event": "dashboard_login_refused"})
        return render(request, "login.html", status_code=401, error="Wrong token.", next="/")
    request.session.clear()
    request.session["role"] = found.value
    logger.info("dashboard login", extra={"event": "dashboard_login", "role": found.value})
    return RedirectResponse(_next_path(form.get("next")), status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form()
    if not csrf_valid(request, form.get(CSRF_FIELD)):
        return PlainTextResponse("missing or wrong CSRF token", status_code=403)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
