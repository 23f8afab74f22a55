"""ZuoraClient OAuth against the simulator: one token per sync, renewal, one retry on 401."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import SecretStr

from zuora_workflow_sync.errors import AuthenticationError, PermissionDeniedError
from zuora_workflow_sync.zuora import TenantCredentials, TokenCache, ZuoraClient

from .conftest import Harness


def test_sync_asks_for_one_token_when_many_calls_run_at_once(harness: Harness, tenant: str) -> None:
    async def scenario(client: ZuoraClient) -> int:
        listing = await client.list_workflows()
        await asyncio.gather(*(client.export_workflow(w.id) for w in listing.workflows))
        return len(listing.workflows)

    count = harness.run(tenant, scenario)
    assert count > 0
    assert harness.tenant_stats(tenant)["tokens_issued"] == 1
    assert harness.route_count(tenant, "export", 200) == count


def test_token_is_renewed_when_it_nears_expiry(harness: Harness, tenant: str) -> None:
    harness.admin.update_settings(token_ttl_seconds=2)

    async def scenario(client: ZuoraClient) -> int:
        await client.list_workflows()
        await client.list_workflows()  # same token
        time.sleep(2.0)  # past the renewal point (10% before the 2 s lifetime)
        await client.list_workflows()
        return client.token_requests

    assert harness.run(tenant, scenario) == 2
    assert harness.tenant_stats(tenant)["tokens_issued"] == 2
    assert harness.route_count(tenant, "list", 401) == 0


def test_401_renews_token_once_and_retries_when_server_expired_it(
    harness: Harness, tenant: str
) -> None:
    async def scenario(client: ZuoraClient) -> int:
        await client.list_workflows()
        harness.admin.advance_clock(4000)  # the server now considers the token expired
        listing = await client.list_workflows()
        return len(listing.workflows)

    assert harness.run(tenant, scenario) > 0
    assert harness.tenant_stats(tenant)["tokens_issued"] == 2
    # An expired token no longer names its tenant: the simulator counts it as unauthenticated.
    assert harness.route_count("-", "list", 401) == 1
    assert harness.sleeps == []  # the 401 retry is immediate, not a backoff


def test_persistent_401_is_authentication_error_after_one_renewal(
    harness: Harness, tenant: str
) -> None:
    harness.admin.add_fault("status", tenant=tenant, route="list", status=401)

    async def scenario(client: ZuoraClient) -> None:
        await client.list_workflows()

    with pytest.raises(AuthenticationError):
        harness.run(tenant, scenario)
    assert harness.route_count(tenant, "list") == 2
    assert harness.tenant_stats(tenant)["tokens_issued"] == 2


def test_revoked_credentials_fail_once_without_retry_storm(harness: Harness, tenant: str) -> None:
    harness.admin.revoke(tenant)
    credentials = harness.credentials(tenant)

    async def scenario(client: ZuoraClient) -> None:
        await client.list_workflows()

    with pytest.raises(AuthenticationError) as caught:
        harness.run(tenant, scenario)
    assert caught.value.status == 401
    assert harness.route_count(tenant, "token") == 1
    assert harness.sleeps == []
    secret = credentials.client_secret.get_secret_value()
    assert secret not in str(caught.value) and secret not in repr(caught.value)


def test_wrong_secret_is_authentication_error_when_token_call_refused(
    harness: Harness, tenant: str
) -> None:
    good = harness.credentials(tenant)
    wrong = TenantCredentials(good.base_url, good.client_id, SecretStr("not-the-secret-123"))

    async def scenario(client: ZuoraClient) -> None:
        await client.list_workflows()

    with pytest.raises(AuthenticationError, match="Authentication error") as caught:
        harness.run(tenant, scenario, credentials=wrong)
    assert "not-the-secret-123" not in f"{caught.value!s} {caught.value!r}"
    assert harness.route_count(tenant, "list") + harness.route_count("-", "list") == 0


def test_forbidden_user_is_permission_denied_when_lacking_view_access(
    harness: Harness, tenant: str
) -> None:
    harness.admin.forbid(tenant)

    async def scenario(client: ZuoraClient) -> None:
        await client.list_workflows()

    with pytest.raises(PermissionDeniedError, match="Workflow View Access") as caught:
        harness.run(tenant, scenario)
    assert caught.value.status == 403
    assert caught.value.request_id is not None and len(caught.value.request_id) == 36
    assert harness.route_count(tenant, "list") == 1  # 403 is never retried


def test_multi_entity_tenant_sends_entity_header_when_configured(harness: Harness) -> None:
    multi = next(v["name"] for v in harness.admin.tenants() if v["multi_entity"])

    async def scenario(client: ZuoraClient) -> int:
        return len((await client.list_workflows()).workflows)

    assert harness.run(multi, scenario) > 0
    sent = [r.request.headers.get("zuora-entity-ids") for r in harness.responses]
    assert set(sent) == {harness.admin.credentials(multi).entity_ids[0]}


def test_token_cache_is_shared_when_two_clients_serve_one_tenant(
    harness: Harness, tenant: str
) -> None:
    cache = TokenCache()

    async def scenario(client: ZuoraClient) -> None:
        await client.list_workflows()

    harness.run(tenant, scenario, token_cache=cache)
    harness.run(tenant, scenario, token_cache=cache)
    assert harness.tenant_stats(tenant)["tokens_issued"] == 1
