"""What every Zuora response carries: request id, track id echo, rate headers, gzip over 1000 bytes.

Handlers return a `Reply` value; `Exchange.respond` turns it into an aiohttp response.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from zuora_workflow_sync.simulator.faults import Route
from zuora_workflow_sync.simulator.tenants import Tenant
from zuora_workflow_sync.simulator.views import Body, encode

JSON_TYPE = "application/json; charset=utf-8"
GZIP_THRESHOLD_BYTES = 1000
AUTHENTICATION_ERROR = {"message": "Authentication error"}
TRACK_ID_MAX_LENGTH = 64
_TRACK_ID_FORBIDDEN = frozenset(":;\"'")


def echoable_track_id(value: str) -> bool:
    """A `Zuora-Track-Id` as documented (at most 64 US-ASCII characters, none of `:;"'`).

    Only such a value is echoed: the response header is documented with the same limits, and what
    Zuora answers to an invalid one is not documented (zuora-api.md 6).
    """
    return (
        0 < len(value) <= TRACK_ID_MAX_LENGTH
        and value.isascii()
        and value.isprintable()
        and not _TRACK_ID_FORBIDDEN.intersection(value)
    )


@dataclass(slots=True)
class Reply:
    """A response before it is written: status, body, content type and extra headers."""

    status: int
    body: Body
    content_type: str = JSON_TYPE
    headers: dict[str, str] | None = None
    compressible: bool = True


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, Body(encode(payload)), headers=headers)


def workflow_errors(status: int, title: str, body_status: int | None = None) -> Reply:
    """The workflow service's `{"errors":[{"status","code":"invalid","title"}]}` body."""
    item = {"status": body_status or status, "code": "invalid", "title": title}
    return json_reply(status, {"errors": [item]})


def common_error(status: int, code: int, message: str) -> Reply:
    """The `CommonErrorResponse` body `{"code": <int>, "message": ...}` (400/403)."""
    return json_reply(status, {"code": code, "message": message})


class Exchange:
    """One Zuora request in progress: who asked, and the headers every response gets."""

    __slots__ = ("arrived", "headers", "request", "route", "tenant")

    def __init__(self, request: web.Request, route: Route) -> None:
        self.arrived = time.monotonic()
        self.request = request
        self.route = route
        self.tenant: Tenant | None = None
        self.headers = {"Zuora-Request-Id": str(uuid.uuid4())}
        track_id = request.headers.get("Zuora-Track-Id")
        if track_id is not None and echoable_track_id(track_id):
            self.headers["Zuora-Track-Id"] = track_id

    def accepts_gzip(self) -> bool:
        return "gzip" in self.request.headers.get("Accept-Encoding", "").lower()

    def response_headers(self, reply: Reply) -> dict[str, str]:
        headers = dict(self.headers)
        if reply.headers:
            headers.update(reply.headers)
        headers["Content-Type"] = reply.content_type
        return headers

    def respond(self, reply: Reply) -> web.Response:
        headers = self.response_headers(reply)
        body = reply.body.raw
        if reply.compressible and len(body) > GZIP_THRESHOLD_BYTES and self.accepts_gzip():
            body = reply.body.gzipped()
            headers["Content-Encoding"] = "gzip"
        return web.Response(status=reply.status, body=body, headers=headers)
