"""The dashboard's GET routes, filled in with real ids of a synced installation."""

from __future__ import annotations

import httpx


def page_paths(client: httpx.Client) -> list[str]:
    """Every main page, API answer and download of the dashboard, with ids that exist."""
    workflows = client.get("/api/workflows").json()["items"]
    runs = client.get("/api/runs").json()["items"]
    workflow, run, customer = workflows[0]["id"], runs[0]["id"], workflows[0]["customer_id"]
    return [
        "/",
        "/customers",
        "/customers?q=acme",
        f"/customers/{customer}",
        "/workflows",
        f"/workflows?customer={customer}&status=Active",
        f"/workflows/{workflow}",
        f"/workflows/{workflow}/export.json",
        f"/workflows/{workflow}/graph.svg",
        "/tasks",
        "/tasks?text=mail",
        "/runs",
        f"/runs?customer={customer}&status=succeeded",
        f"/runs/{run}",
        "/metrics",
        "/api/overview",
        "/api/customers",
        f"/api/customers/{customer}",
        "/api/workflows",
        f"/api/workflows/{workflow}",
        f"/api/workflows/{workflow}/history",
        f"/api/workflows/{workflow}/graph",
        f"/api/workflows/{workflow}/export",
        "/api/tasks?action_type=Email",
        "/api/runs",
        f"/api/runs/{run}",
    ]
