"""`/api/...` answers exactly what the CLI's `--json` prints (the same catalog functions and
shapes), and the pages show what the API says; over real HTTP, on each backend."""

from __future__ import annotations

import json

import httpx

from tests.synced import TENANTS, Synced
from tests.web.conftest import TOKEN, log_in


def test_api_equals_the_cli_json_when_asked_the_same(client: httpx.Client, synced: Synced) -> None:
    log_in(client, TOKEN)
    customer = synced.customers[0]
    workflows = client.get(f"/api/workflows?customer={customer.id}&limit=5").json()
    assert workflows == synced.json(
        "workflows", "list", "--customer", str(customer.id), "--limit", "5"
    )
    workflow = workflows["items"][0]["id"]
    assert client.get(f"/api/workflows/{workflow}").json() == synced.json(
        "workflows", "show", str(workflow)
    )
    assert client.get(f"/api/workflows/{workflow}/history").json() == synced.json(
        "workflows", "history", str(workflow), "--limit", "200"
    )
    assert client.get(f"/api/workflows/{workflow}/graph").json() == synced.json(
        "workflows", "graph", str(workflow)
    )
    assert client.get("/api/tasks?text=mail&limit=20").json() == synced.json(
        "tasks", "search", "--text", "mail", "--limit", "20"
    )
    api_runs = client.get("/api/runs").json()["items"]
    assert api_runs == synced.json("runs")
    shown = client.get(f"/api/customers/{customer.id}").json()["customer"]
    assert {key: shown[key] for key in synced.json("customers", "show", str(customer.id))} == (
        synced.json("customers", "show", str(customer.id))
    )


def test_export_download_equals_workflows_export(client: httpx.Client, synced: Synced) -> None:
    log_in(client, TOKEN)
    workflow = client.get("/api/workflows").json()["items"][0]["id"]
    download = client.get(f"/workflows/{workflow}/export.json")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.text == synced.cli("workflows", "export", str(workflow)).stdout
    assert client.get(f"/api/workflows/{workflow}/export").json() == json.loads(download.text)


def test_filters_narrow_the_listings_when_given(client: httpx.Client, synced: Synced) -> None:
    log_in(client, TOKEN)
    first, second = synced.customers
    found = client.get("/api/customers?q=GLOBEX").json()["items"]
    assert [item["id"] for item in found] == [second.id]
    assert client.get("/api/customers?status=paused").json()["items"] == []
    runs = client.get(f"/api/runs?customer={first.name}&status=succeeded").json()["items"]
    assert runs and {run["customer_id"] for run in runs} == {first.id}
    page = client.get("/api/customers?limit=1").json()
    rest = client.get(f"/api/customers?limit=1&cursor={page['next_cursor']}").json()
    assert [page["items"][0]["id"], rest["items"][0]["id"]] == [first.id, second.id]
    assert rest["next_cursor"] is None
    assert "workflows" in client.get("/api/overview").json()["stored"]


def test_bad_input_is_one_line_when_a_filter_is_wrong(client: httpx.Client) -> None:
    log_in(client, TOKEN)
    answer = client.get("/api/runs?status=exploded")
    assert answer.status_code == 400 and "status is one of queued" in answer.json()["error"]
    assert client.get("/api/workflows/999999").status_code == 404
    assert client.get("/api/tasks?text=ab").status_code == 400
    page = client.get("/customers/424242")
    assert page.status_code == 404 and "no customer with id or name" in page.text
    assert client.get("/api/customers?cursor=garbage").status_code == 400


def test_pages_show_what_the_api_says(client: httpx.Client, synced: Synced) -> None:
    log_in(client, TOKEN)
    customer = synced.customers[1]
    page = client.get(f"/customers/{customer.id}").text
    detail = client.get(f"/api/customers/{customer.id}").json()
    assert len(detail["workflows"]) == len(synced.admin.workflows(TENANTS[1]))
    for workflow in detail["workflows"]:
        assert f'href="/workflows/{workflow["id"]}"' in page
    assert "(encrypted)" in page and customer.client_id in page
