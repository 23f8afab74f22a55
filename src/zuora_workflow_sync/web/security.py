"""Who may see and do what on the dashboard: the login tokens, the session's role, the CSRF
token of every POST, and the security headers of every answer.

Without `ZWS_DASHBOARD_TOKEN` (loopback only: `serve` refuses anything else) every visitor may
act. With it, a visitor logs in with that token (may act) or `ZWS_DASHBOARD_READ_TOKEN` (may
only view); the role lives in the signed session cookie (Starlette's SessionMiddleware:
HttpOnly, SameSite=Strict, Secure when `ZWS_DASHBOARD_HTTPS`). Scrapers and scripts may send
`Authorization: Bearer TOKEN` instead. Tokens are compared in constant time and never shown.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_FIELD = "csrf"
PUBLIC_PATHS = ("/login", "/healthz", "/readyz", "/static/")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class Role(StrEnum):
    ACT = "act"
    VIEW = "view"


@dataclass(frozen=True)
class Access:
    """The login tokens; with neither, everyone acts (the server is on loopback)."""

    token: SecretStr | None = None
    read_token: SecretStr | None = None

    @property
    def open(self) -> bool:
        return self.token is None

    def role_of(self, presented: str) -> Role | None:
        """The role a presented token grants, or None."""
        given = presented.encode()
        if self.token is not None and hmac.compare_digest(given, _raw(self.token)):
            return Role.ACT
        if self.read_token is not None and hmac.compare_digest(given, _raw(self.read_token)):
            return Role.VIEW
        return None

    def role(self, connection: HTTPConnection) -> Role | None:
        """The visitor's role: from the session, a bearer token, or the open default."""
        if self.open:
            return Role.ACT
        header = connection.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return self.role_of(header[7:].strip())
        stored = connection.session.get("role")
        return Role(stored) if stored in (Role.ACT.value, Role.VIEW.value) else None


def _raw(secret: SecretStr) -> bytes:
    return secret.get_secret_value().encode()


def csrf_token(connection: HTTPConnection) -> str:
    """The session's CSRF token, made on first use."""
    token = connection.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        connection.session[CSRF_FIELD] = token
    return token


def csrf_valid(connection: HTTPConnection, presented: object) -> bool:
    expected = connection.session.get(CSRF_FIELD)
    return (
        isinstance(expected, str)
        and isinstance(presented, str)
        and hmac.compare_digest(presented.encode(), expected.encode())
    )


def is_public(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC_PATHS)


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP answer (pure ASGI: streaming is untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
