"""Every page, API answer and download of the dashboard answers, over real HTTP, on each backend;
`/readyz` says which dependency is down."""

from __future__ import annotations

import httpx
from pydantic import SecretStr

from tests.backends import Backend
from tests.synced import Synced
from tests.web.conftest import ACCESS, TOKEN, log_in, running
from tests.web.pages import page_paths
from zuora_workflow_sync.runtime import build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.web.app import create_app


def test_every_page_answers_when_logged_in(client: httpx.Client) -> None:
    log_in(client, TOKEN)
    for path in page_paths(client):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        if answer.headers["content-type"].startswith("text/html"):
            assert "<nav>" in answer.text and "Log out" in answer.text, path


def test_readyz_names_the_queue_when_it_is_unreachable(synced: Synced, backend: Backend) -> None:
    settings = Settings(
        home=synced.runtime.settings.home,
        secret_keys=SecretStr(synced.env["ZWS_SECRET_KEYS"]),
        database_url=backend.database_url,
        queue_url=backend.unreachable_queue_url,
    )
    with build_runtime(settings) as runtime, running(create_app(runtime, access=ACCESS)) as live:
        answer = httpx.get(live.url + "/readyz")
        assert answer.status_code == 503
        assert answer.json()["status"] == "unavailable" and list(answer.json()["problems"]) == [
            "queue"
        ]
        assert httpx.get(live.url + "/healthz").json() == {"status": "ok"}
