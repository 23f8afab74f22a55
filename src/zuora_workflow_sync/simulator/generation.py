"""Deterministic generation of tenants and workflows from a seed.

Each tenant and each regeneration draws from its own `random.Random` stream, named after the seed,
so regenerating one tenant leaves the others byte-for-byte unchanged.
"""

from __future__ import annotations

import random
import string
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from zuora_workflow_sync.simulator.clock import iso_millis
from zuora_workflow_sync.simulator.documents import (
    DefinitionFields,
    build_document,
    derive_document,
)
from zuora_workflow_sync.simulator.tenants import Tenant, TenantType, Universe, Workflow
from zuora_workflow_sync.simulator.tenants import WorkflowVersion as Version

_VERBS = ("Send", "Sync", "Collect", "Apply", "Notify", "Reconcile", "Export", "Renew", "Archive")
_OBJECTS = (
    "invoice reminders",
    "accounts to CRM",
    "failed payments",
    "late fees",
    "usage to ERP",
    "credit memos",
    "expiring subscriptions",
    "dunning notices",
    "bill run results",
)
_SUFFIXES = ("", "", " (EU)", " (US)", " nightly", " v2")
_CRONS = ("0 0 * * *", "0 6 * * 1", "*/15 * * * *", "0 2 1 * *", "30 3 * * 1-5")
_TIMEZONES = ("Pacific Time (US & Canada)", "Eastern Time (US & Canada)", "UTC", "London", "Sydney")
_EPOCH = datetime(2019, 1, 1, tzinfo=UTC)
_SECRET_ALPHABET = string.ascii_letters + string.digits + "="
_TYPE_WEIGHTS = {
    TenantType.PRODUCTION: 6,
    TenantType.DEVELOPER_SANDBOX: 2,
    TenantType.API_SANDBOX: 2,
}


def tenant_name(index: int) -> str:
    return f"tenant-{index:03d}"


def rng_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_universe(seed: int, tenants: int, workflows_per_tenant: int) -> Universe:
    universe = Universe(seed=seed, tenants={})
    for index in range(1, tenants + 1):
        add_tenant(universe, tenant_name(index), workflows_per_tenant)
    return universe


def add_tenant(
    universe: Universe,
    name: str,
    workflows: int,
    tenant_type: TenantType | None = None,
    entity_count: int | None = None,
) -> Tenant:
    """Create a tenant (credentials from its own seeded stream) with `workflows` workflows."""
    rng = random.Random(f"{universe.seed}/tenant/{name}")
    index = len(universe.tenants) + 1
    chosen_type = tenant_type or _tenant_type(rng, index)
    entities = entity_count if entity_count is not None else (3 if index % 4 == 0 else 1)
    tenant = Tenant(
        name=name,
        client_id=rng_uuid(rng),
        client_secret="".join(rng.choices(_SECRET_ALPHABET, k=rng.randint(36, 42))),
        tenant_type=chosen_type,
        tenant_number=10000 + index,
        user_id=uuid.UUID(int=rng.getrandbits(128)).hex,
        entity_ids=[rng_uuid(rng) for _ in range(max(entities, 1))],
    )
    universe.tenants[name] = tenant
    replace_workflows(universe, tenant, workflows)
    return tenant


def _tenant_type(rng: random.Random, index: int) -> TenantType:
    if index == 1:
        return TenantType.PRODUCTION
    types = list(_TYPE_WEIGHTS)
    return rng.choices(types, weights=list(_TYPE_WEIGHTS.values()))[0]


def replace_workflows(universe: Universe, tenant: Tenant, count: int) -> None:
    """Regenerate the tenant's workflows: `count` new ones, deterministic for a given history."""
    rng = random.Random(f"{universe.seed}/workflows/{tenant.name}/{count}/{tenant.revision}")
    tenant.workflows = {}
    for _ in range(count):
        workflow = generate_workflow(universe, rng, _unique_name(rng, tenant))
        tenant.workflows[workflow.id] = workflow
    tenant.revision += 1


def _unique_name(rng: random.Random, tenant: Tenant) -> str:
    base = f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)}{rng.choice(_SUFFIXES)}"
    taken = {w.name for w in tenant.workflows.values()}
    name, counter = base, 2
    while name in taken:
        name, counter = f"{base} {counter}", counter + 1
    return name


def generate_workflow(universe: Universe, rng: random.Random, name: str) -> Workflow:
    """Definition and version metadata; export documents are built on first use."""
    fields = _definition_fields(rng, name)
    workflow_id = universe.allocate_workflow_id()
    created = _EPOCH + timedelta(days=rng.randint(0, 1800), milliseconds=rng.randint(0, 86_399_999))
    count = rng.choices((1, 2, 3, 4, 6), (4, 3, 2, 1, 1))[0]
    versions = _versions(universe, rng, fields.description, created, count)
    active = versions[-1] if rng.random() < 0.75 else rng.choice(versions)
    return Workflow(
        id=workflow_id,
        name=name,
        description=fields.description,
        status="Active" if rng.random() < 0.8 else "Inactive",
        callout_trigger=fields.callout_trigger,
        ondemand_trigger=fields.ondemand_trigger,
        scheduled_trigger=fields.scheduled_trigger,
        interval=fields.interval,
        timezone=fields.timezone,
        priority=fields.priority,
        created_at=iso_millis(created),
        updated_at=versions[-1].updated_at,
        active_version_id=active.id,
        versions=versions,
        document_seed=f"{universe.seed}/document/{workflow_id}/{rng.getrandbits(32)}",
    )


def _definition_fields(rng: random.Random, name: str) -> DefinitionFields:
    scheduled = rng.random() < 0.3
    return DefinitionFields(
        name=name,
        description=rng.choice(("", f"{name} for all active accounts", "Owned by finance ops")),
        callout_trigger=rng.random() < 0.5,
        ondemand_trigger=rng.random() < 0.85,
        scheduled_trigger=scheduled,
        interval=rng.choice(_CRONS) if scheduled else None,
        timezone=rng.choice(_TIMEZONES) if scheduled else None,
        priority=rng.choice(("Medium", "Medium", "High", "Low")),
    )


def _versions(
    universe: Universe, rng: random.Random, description: str, created: datetime, count: int
) -> list[Version]:
    versions: list[Version] = []
    moment = created
    for number in range(1, count + 1):
        stamp = iso_millis(moment)
        versions.append(
            Version(universe.allocate_workflow_id(), f"0.0.{number}", description, stamp, stamp)
        )
        moment += timedelta(days=rng.randint(1, 90), milliseconds=rng.randint(0, 86_399_999))
    return versions


def definition_fields(workflow: Workflow) -> DefinitionFields:
    return DefinitionFields(
        name=workflow.name,
        description=workflow.description,
        callout_trigger=workflow.callout_trigger,
        ondemand_trigger=workflow.ondemand_trigger,
        scheduled_trigger=workflow.scheduled_trigger,
        interval=workflow.interval,
        timezone=workflow.timezone,
        priority=workflow.priority,
    )


def ensure_documents(workflow: Workflow) -> None:
    """Build the export documents of a generated workflow (each version derives from the last)."""
    if all(version.document is not None for version in workflow.versions):
        return
    rng = random.Random(workflow.document_seed)
    previous: dict[str, Any] | None = None
    for version in workflow.versions:
        if previous is None:
            fields = definition_fields(workflow)
            version.document = build_document(rng, fields, version.id, version.version)
        else:
            version.document = derive_document(rng, previous, version.id, version.version)
        previous = version.document


def next_version(universe: Universe, workflow: Workflow, moment: datetime) -> Version:
    """A new version derived from the latest one (it is not activated here)."""
    ensure_documents(workflow)
    latest = workflow.latest_version()
    assert latest.document is not None
    parts = latest.version.split(".")
    label = ".".join([*parts[:-1], str(int(parts[-1]) + 1)])
    rng = random.Random(f"{universe.seed}/version/{workflow.id}/{label}")
    version_id = universe.allocate_workflow_id()
    document = derive_document(rng, latest.document, version_id, label)
    stamp = iso_millis(moment)
    return Version(version_id, label, latest.description, stamp, stamp, document)


def new_workflow(universe: Universe, tenant: Tenant, name: str | None) -> Workflow:
    """One more workflow for a tenant, seeded by the next id so it is reproducible."""
    rng = random.Random(f"{universe.seed}/add/{tenant.name}/{universe.next_workflow_id}")
    workflow = generate_workflow(universe, rng, name or _unique_name(rng, tenant))
    tenant.workflows[workflow.id] = workflow
    tenant.revision += 1
    return workflow
