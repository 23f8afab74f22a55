"""Fixtures of the dashboard's suite, over `synced` (two simulator tenants synced for real):
`live_server`, a real uvicorn on 127.0.0.1:0 in a thread serving `create_app` with login
tokens set, and `client`, an httpx client of it (over the socket, like a browser)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette

from tests.synced import Synced
from zuora_workflow_sync.web.app import create_app
from zuora_workflow_sync.web.security import Access

TOKEN = "operator-token-0123456789abcdef"
READ_TOKEN = "viewer-token-0123456789abcdef"
ACCESS = Access(SecretStr(TOKEN), SecretStr(READ_TOKEN))
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def log_in(client: httpx.Client, token: str) -> None:
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "token": token, "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server


@contextmanager
def running(app: Starlette) -> Iterator[LiveServer]:
    """`app` served by a real uvicorn on 127.0.0.1 (a free port) in a thread, until the end."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", server)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live_server(synced: Synced) -> Iterator[LiveServer]:
    with running(create_app(synced.runtime, access=ACCESS)) as server:
        yield server


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        yield c
