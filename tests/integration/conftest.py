"""Fixtures for driving the real ZuoraClient against the simulator over loopback sockets."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr

from zuora_workflow_sync.domain.retry import RetryPolicy
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.zuora import (
    ClientSettings,
    TenantCredentials,
    TokenCache,
    TransportLimits,
    ZuoraClient,
    new_http_client,
)

T = TypeVar("T")


@dataclass
class Harness:
    """Builds clients for simulated tenants, records sleeps and responses, runs coroutines."""

    admin: SimulatorAdmin
    sleeps: list[float] = field(default_factory=list)
    responses: list[httpx.Response] = field(default_factory=list)

    def credentials(self, tenant: str, *, entity: bool = True) -> TenantCredentials:
        view = self.admin.credentials(tenant)
        multi_entity = bool(self.admin.tenant(tenant)["multi_entity"])
        return TenantCredentials(
            base_url=view.base_url,
            client_id=view.client_id,
            client_secret=SecretStr(view.client_secret),
            entity_id=view.entity_ids[0] if entity and multi_entity else None,
        )

    async def _sleep(self, seconds: float) -> None:
        """Record the backoff the client asked for, but wait at most 0.3 s of it."""
        self.sleeps.append(seconds)
        await asyncio.sleep(min(seconds, 0.3))

    async def _record(self, response: httpx.Response) -> None:
        self.responses.append(response)

    def run(
        self,
        tenant: str,
        scenario: Callable[[ZuoraClient], Awaitable[T]],
        *,
        credentials: TenantCredentials | None = None,
        settings: ClientSettings | None = None,
        track_id: str | None = None,
        token_cache: TokenCache | None = None,
    ) -> T:
        """Run `scenario(client)` in a fresh event loop; backoff sleeps are recorded, shortened."""

        async def main() -> T:
            limits = (settings or ClientSettings()).transport
            async with new_http_client(limits) as http:
                http.event_hooks["response"] = [self._record]
                client = ZuoraClient(
                    credentials or self.credentials(tenant),
                    http=http,
                    token_cache=token_cache or TokenCache(),
                    settings=settings or fast_settings(),
                    track_id=track_id,
                    rng=random.Random(7),
                    sleep=self._sleep,
                )
                return await scenario(client)

        return asyncio.run(main())

    def tenant_stats(self, tenant: str) -> dict[str, Any]:
        stats: dict[str, Any] = self.admin.stats()["tenants"].get(tenant, {})
        return stats

    def route_count(self, tenant: str, route: str, status: int | None = None) -> int:
        by_status: dict[str, int] = self.tenant_stats(tenant).get("requests", {}).get(route, {})
        if status is None:
            return sum(by_status.values())
        return by_status.get(str(status), 0)


def fast_settings(
    *, attempts: int = 4, deadline: float = 10.0, max_body: int = 8 * 1024 * 1024
) -> ClientSettings:
    return ClientSettings(
        transport=TransportLimits(
            deadline_seconds=deadline, read_timeout_seconds=deadline, max_body_bytes=max_body
        ),
        retry=RetryPolicy(max_attempts=attempts, base_seconds=0.5, cap_seconds=4.0),
    )


@pytest.fixture
def harness(sim_admin: SimulatorAdmin) -> Iterator[Harness]:
    yield Harness(sim_admin)


@pytest.fixture
def tenant(sim_admin: SimulatorAdmin) -> str:
    """A seeded single-entity tenant (so no entity header is needed)."""
    for view in sim_admin.tenants():
        if not view["multi_entity"]:
            return str(view["name"])
    raise AssertionError("the seeded simulator has no single-entity tenant")
