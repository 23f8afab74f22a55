"""Who may see and do what: the login, the session cookie, CSRF, the viewer's role, the
security headers, and no secret in any page, JSON answer or log line; over real HTTP."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.synced import TENANTS, Synced
from tests.web.conftest import ACCESS, READ_TOKEN, TOKEN, LiveServer, csrf_of, log_in, running
from tests.web.pages import page_paths
from zuora_workflow_sync.simulator import SimulatorServer
from zuora_workflow_sync.web.app import create_app
from zuora_workflow_sync.web.security import CONTENT_SECURITY_POLICY

ACTIONS = ("sync", "force-sync", "reset", "pause", "resume")


def _run_count(synced: Synced) -> int:
    return len(synced.runtime.ledger.list_runs(limit=1000))


def test_no_page_works_without_logging_in_when_a_token_is_set(client: httpx.Client) -> None:
    log_in(client, TOKEN)
    paths = page_paths(client)
    client.cookies.clear()
    for path in paths:
        answer = client.get(path, follow_redirects=False)
        if path.startswith("/api/") or path == "/metrics":
            assert answer.status_code == 401, path
        else:
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next="), path
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_login_is_refused_when_the_token_is_wrong(client: httpx.Client) -> None:
    page = client.get("/login")
    answer = client.post("/login", data={"csrf": csrf_of(page.text), "token": "guess"})
    assert answer.status_code == 401 and "Wrong token." in answer.text
    assert client.get("/customers", follow_redirects=False).status_code == 303


def test_session_cookie_is_httponly_and_strict_when_logged_in(client: httpx.Client) -> None:
    page = client.get("/login")
    answer = client.post(
        "/login", data={"csrf": csrf_of(page.text), "token": TOKEN}, follow_redirects=False
    )
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    assert answer.headers["location"] == "/"


def test_post_is_refused_when_the_csrf_token_is_missing_or_wrong(
    client: httpx.Client, synced: Synced
) -> None:
    log_in(client, TOKEN)
    before = _run_count(synced)
    customer = synced.customers[0].id
    for action in ACTIONS:
        assert client.post(f"/customers/{customer}/{action}").status_code == 403
        answer = client.post(f"/customers/{customer}/{action}", data={"csrf": "forged"})
        assert answer.status_code == 403
    assert client.post("/logout").status_code == 403
    assert _run_count(synced) == before
    assert synced.runtime.customers.get(customer).sync_status.value == "active"  # type: ignore[union-attr]


def test_viewer_sees_no_action_and_is_refused_one(client: httpx.Client, synced: Synced) -> None:
    log_in(client, READ_TOKEN)
    customer = synced.customers[0].id
    page = client.get(f"/customers/{customer}")
    assert (
        page.status_code == 200 and "Sync now" not in page.text and "Reset circuit" not in page.text
    )
    csrf = csrf_of(page.text)
    before = _run_count(synced)
    for action in ACTIONS:
        answer = client.post(f"/customers/{customer}/{action}", data={"csrf": csrf})
        assert answer.status_code == 403 and "view, not act" in answer.text
    run = client.get("/api/runs").json()["items"][0]["id"]
    assert client.post(f"/runs/{run}/retry", data={"csrf": csrf}).status_code == 403
    assert _run_count(synced) == before
    assert client.get("/api/customers").status_code == 200


def test_every_answer_carries_the_security_headers(client: httpx.Client) -> None:
    log_in(client, TOKEN)
    for path in [*page_paths(client), "/login", "/healthz", "/static/style.css"]:
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert (
            headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff"
        )
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY


def test_bearer_token_reads_api_and_metrics_without_a_session(client: httpx.Client) -> None:
    for token, status in ((TOKEN, 200), (READ_TOKEN, 200), ("wrong", 401)):
        headers = {"authorization": f"Bearer {token}"}
        assert client.get("/metrics", headers=headers).status_code == status
        assert client.get("/api/overview", headers=headers).status_code == status


def test_no_secret_appears_in_any_page_json_or_log_line(
    client: httpx.Client,
    synced: Synced,
    simulator: SimulatorServer,
    caplog: pytest.LogCaptureFixture,
    live_server: LiveServer,
) -> None:
    caplog.set_level(logging.DEBUG)
    log_in(client, TOKEN)
    texts = [client.get(path).text for path in page_paths(client)]
    page = client.get("/login")
    texts.append(client.post("/login", data={"csrf": csrf_of(page.text), "token": "x"}).text)
    secrets = [synced.credentials(tenant).client_secret for tenant in TENANTS]
    secrets += list(simulator.state.tokens)
    secrets += [synced.env["ZWS_SECRET_KEYS"], TOKEN, READ_TOKEN]
    secrets += [c.client_secret_encrypted for c in synced.customers]
    assert len(simulator.state.tokens) >= 1
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    for secret in secrets:
        assert all(secret not in text for text in texts)
        assert secret not in logged


def test_session_cookie_is_secure_when_served_behind_https(synced: Synced) -> None:
    app = create_app(synced.runtime, access=ACCESS, https_only=True)
    with running(app) as live, httpx.Client(base_url=live.url) as client:
        page = client.get("/login")
        assert "secure" in page.headers["set-cookie"].lower().split("; ")
