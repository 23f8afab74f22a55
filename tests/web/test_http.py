"""The dashboard over HTTP (Starlette's TestClient) against a real sync of the simulator."""

from __future__ import annotations

import httpx

from tests.synced import Synced
from tests.web.conftest import READ_TOKEN, TOKEN, csrf_of, log_in


def test_smoke(client: httpx.Client, synced: Synced) -> None:
    log_in(client, TOKEN)
    for path in [
        "/",
        "/customers",
        "/customers/1",
        "/workflows",
        "/tasks?text=mail",
        "/runs",
        "/runs/1",
        "/api/overview",
        "/api/customers",
        "/api/runs",
        "/metrics",
    ]:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:2000])
    wid = client.get("/api/workflows").json()["items"][0]["id"]
    for path in [
        f"/workflows/{wid}",
        f"/workflows/{wid}/export.json",
        f"/workflows/{wid}/graph.svg",
        f"/api/workflows/{wid}",
        f"/api/workflows/{wid}/history",
        f"/api/workflows/{wid}/graph",
    ]:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:2000])
