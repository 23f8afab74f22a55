"""The simulated data: tenants, their workflow definitions and versions, and JSON load/dump.

Plain dataclasses; generation lives in `generation`, HTTP shapes in `views`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

FILE_FORMAT_VERSION = 1


class TenantType(StrEnum):
    """Zuora tenant kinds; they decide the default API rate quotas (zuora-api.md 5.1)."""

    PRODUCTION = "production"
    DEVELOPER_SANDBOX = "developer_sandbox"
    API_SANDBOX = "api_sandbox"


@dataclass
class WorkflowVersion:
    """One version of a definition, with its export document (`workflow`/`tasks`/`linkages`)."""

    id: int
    version: str
    description: str
    created_at: str
    updated_at: str
    document: dict[str, Any] | None = None
    revision: int = 0


@dataclass
class Workflow:
    """A workflow definition as `GET /workflows/{id}` shows it."""

    id: int
    name: str
    description: str
    status: str
    callout_trigger: bool
    ondemand_trigger: bool
    scheduled_trigger: bool
    interval: str | None
    timezone: str | None
    priority: str
    created_at: str
    updated_at: str
    active_version_id: int
    versions: list[WorkflowVersion]
    document_seed: str = ""
    revision: int = 0

    def active_version(self) -> WorkflowVersion:
        return next(v for v in self.versions if v.id == self.active_version_id)

    def latest_version(self) -> WorkflowVersion:
        return max(self.versions, key=lambda v: version_key(v.version))

    def find_version(self, number: str) -> WorkflowVersion | None:
        return next((v for v in self.versions if v.version == number), None)


@dataclass
class Tenant:
    """A Zuora tenant: one OAuth client, its entities and its workflows (ordered by id)."""

    name: str
    client_id: str
    client_secret: str
    tenant_type: TenantType
    tenant_number: int
    user_id: str
    entity_ids: list[str]
    workflows: dict[int, Workflow] = field(default_factory=dict)
    revision: int = 0

    @property
    def multi_entity(self) -> bool:
        return len(self.entity_ids) > 1

    def sorted_workflows(self) -> list[Workflow]:
        return [self.workflows[key] for key in sorted(self.workflows)]


@dataclass
class Universe:
    """Everything the simulator serves, plus the id counters that keep ids unique."""

    seed: int
    tenants: dict[str, Tenant]
    next_workflow_id: int = 1000

    def allocate_workflow_id(self) -> int:
        self.next_workflow_id += 1
        return self.next_workflow_id - 1


def version_key(number: str) -> tuple[int, ...]:
    return tuple(int(part) for part in number.split("."))


def universe_to_dict(universe: Universe) -> dict[str, Any]:
    return {
        "format": FILE_FORMAT_VERSION,
        "seed": universe.seed,
        "next_workflow_id": universe.next_workflow_id,
        "tenants": [_tenant_to_dict(t) for t in universe.tenants.values()],
    }


def universe_from_dict(raw: dict[str, Any]) -> Universe:
    if raw.get("format") != FILE_FORMAT_VERSION:
        raise ValueError(f"unsupported tenants file format {raw.get('format')!r}")
    tenants = [_tenant_from_dict(t) for t in raw["tenants"]]
    return Universe(
        seed=int(raw["seed"]),
        tenants={t.name: t for t in tenants},
        next_workflow_id=int(raw["next_workflow_id"]),
    )


def dump_universe(universe: Universe, path: Path) -> None:
    """Write the whole universe. Documents not built yet are written as null; a load rebuilds
    them identically from each workflow's `document_seed`."""
    path.write_text(json.dumps(universe_to_dict(universe), indent=1), encoding="utf-8")


def load_universe(path: Path) -> Universe:
    return universe_from_dict(json.loads(path.read_text(encoding="utf-8")))


def _tenant_to_dict(tenant: Tenant) -> dict[str, Any]:
    return {
        "name": tenant.name,
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "tenant_type": tenant.tenant_type.value,
        "tenant_number": tenant.tenant_number,
        "user_id": tenant.user_id,
        "entity_ids": list(tenant.entity_ids),
        "workflows": [_workflow_to_dict(w) for w in tenant.sorted_workflows()],
    }


def _tenant_from_dict(raw: dict[str, Any]) -> Tenant:
    workflows = [_workflow_from_dict(w) for w in raw["workflows"]]
    return Tenant(
        name=raw["name"],
        client_id=raw["client_id"],
        client_secret=raw["client_secret"],
        tenant_type=TenantType(raw["tenant_type"]),
        tenant_number=int(raw["tenant_number"]),
        user_id=raw["user_id"],
        entity_ids=list(raw["entity_ids"]),
        workflows={w.id: w for w in workflows},
    )


_WORKFLOW_FIELDS = [
    "id",
    "name",
    "description",
    "status",
    "callout_trigger",
    "ondemand_trigger",
    "scheduled_trigger",
    "interval",
    "timezone",
    "priority",
    "created_at",
    "updated_at",
    "active_version_id",
    "document_seed",
]
_VERSION_FIELDS = ["id", "version", "description", "created_at", "updated_at", "document"]


def _workflow_to_dict(workflow: Workflow) -> dict[str, Any]:
    raw = {name: getattr(workflow, name) for name in _WORKFLOW_FIELDS}
    raw["versions"] = [{n: getattr(v, n) for n in _VERSION_FIELDS} for v in workflow.versions]
    return raw


def _workflow_from_dict(raw: dict[str, Any]) -> Workflow:
    versions = [WorkflowVersion(**{n: v[n] for n in _VERSION_FIELDS}) for v in raw["versions"]]
    return Workflow(**{name: raw[name] for name in _WORKFLOW_FIELDS}, versions=versions)
