"""`SimulatorAdmin`: a small synchronous client of the admin API, for tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx


@dataclass(frozen=True)
class TenantCredentials:
    """What a Zuora client needs to talk to one simulated tenant."""

    name: str
    base_url: str
    client_id: str
    client_secret: str
    entity_ids: tuple[str, ...]
    tenant_type: str

    @classmethod
    def from_view(cls, view: dict[str, Any]) -> TenantCredentials:
        return cls(
            name=view["name"],
            base_url=view["base_url"],
            client_id=view["client_id"],
            client_secret=view["client_secret"],
            entity_ids=tuple(view["entity_ids"]),
            tenant_type=view["tenant_type"],
        )


class SimulatorAdminError(RuntimeError):
    """The admin API refused a call (status and its `error` text)."""


class SimulatorAdmin:
    """Calls `/__sim/...` on a running simulator; use as a context manager or call `close()`."""

    def __init__(self, base_url: str, timeout_seconds: float = 30.0) -> None:
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/__sim", timeout=timeout_seconds
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SimulatorAdmin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, path, json=body)
        if response.status_code >= 400:
            raise SimulatorAdminError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def reset(self) -> None:
        self._call("POST", "/reset")

    def tenants(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/tenants")["tenants"])

    def tenant(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/tenants/{name}"))

    def credentials(self, name: str) -> TenantCredentials:
        return TenantCredentials.from_view(self.tenant(name))

    def create_tenant(
        self,
        name: str | None = None,
        *,
        workflows: int = 0,
        tenant_type: str | None = None,
        entity_count: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"workflows": workflows}
        for key, value in (
            ("name", name),
            ("tenant_type", tenant_type),
            ("entity_count", entity_count),
        ):
            if value is not None:
                body[key] = value
        return dict(self._call("POST", "/tenants", body))

    def patch_tenant(self, name: str, **fields: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/tenants/{name}", fields))

    def forbid(self, name: str, forbidden: bool = True) -> None:
        self.patch_tenant(name, forbidden=forbidden)

    def revoke(self, name: str, revoked: bool = True) -> None:
        self.patch_tenant(name, revoked=revoked)

    def set_quotas(self, name: str, minute: int, hour: int, day: int) -> None:
        self.patch_tenant(name, quotas={"minute": minute, "hour": hour, "day": day})

    def clear_quotas(self, name: str) -> None:
        self.patch_tenant(name, quotas=None)

    def set_concurrency_limit(self, name: str, limit: int | None) -> None:
        self.patch_tenant(name, concurrency_limit=limit)

    def workflows(self, tenant: str) -> list[dict[str, Any]]:
        return list(self._call("GET", f"/tenants/{tenant}/workflows")["workflows"])

    def set_workflow_count(self, tenant: str, count: int) -> list[dict[str, Any]]:
        return list(
            self._call("PUT", f"/tenants/{tenant}/workflows", {"count": count})["workflows"]
        )

    def add_workflow(self, tenant: str, name: str | None = None) -> dict[str, Any]:
        body = {} if name is None else {"name": name}
        return dict(self._call("POST", f"/tenants/{tenant}/workflows", body))

    def edit_workflow(self, tenant: str, workflow_id: int, **fields: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", f"/tenants/{tenant}/workflows/{workflow_id}", fields))

    def delete_workflow(self, tenant: str, workflow_id: int) -> None:
        self._call("DELETE", f"/tenants/{tenant}/workflows/{workflow_id}")

    def add_version(self, tenant: str, workflow_id: int, activate: bool = False) -> dict[str, Any]:
        path = f"/tenants/{tenant}/workflows/{workflow_id}/versions"
        return dict(self._call("POST", path, {"activate": activate}))

    def settings(self) -> dict[str, Any]:
        return dict(self._call("GET", "/settings"))

    def update_settings(self, **fields: Any) -> dict[str, Any]:
        return dict(self._call("PATCH", "/settings", fields))

    def add_fault(self, kind: str, **fields: Any) -> dict[str, Any]:
        return dict(self._call("POST", "/faults", {"kind": kind, **fields}))

    def faults(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/faults")["faults"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def remove_fault(self, rule_id: int) -> None:
        self._call("DELETE", f"/faults/{rule_id}")

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return dict(self._call("POST", "/clock/advance", {"seconds": seconds}))

    def clock(self) -> dict[str, Any]:
        return dict(self._call("GET", "/clock"))

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/stats"))

    def reset_stats(self) -> None:
        self._call("DELETE", "/stats")
