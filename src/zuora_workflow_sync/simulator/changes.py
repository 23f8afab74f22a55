"""Changes the admin API makes to a tenant's workflows, each visible to the next Zuora call.

Every change bumps the revisions that the render cache keys on, and stamps `updatedAt`.
"""

from __future__ import annotations

from typing import Any

from zuora_workflow_sync.simulator.clock import iso_millis
from zuora_workflow_sync.simulator.generation import (
    ensure_documents,
    new_workflow,
    next_version,
    replace_workflows,
)
from zuora_workflow_sync.simulator.state import SimulatorState
from zuora_workflow_sync.simulator.tenants import Tenant, Workflow, WorkflowVersion

EDITABLE = ("name", "description", "status", "priority")
_STATUSES = ("Active", "Inactive")
_PRIORITIES = ("High", "Medium", "Low")


class ChangeError(ValueError):
    """An admin change that cannot be applied (the message says why)."""


def _touch(state: SimulatorState, tenant: Tenant, workflow: Workflow) -> str:
    stamp = iso_millis(state.clock.now())
    workflow.updated_at = stamp
    workflow.revision += 1
    tenant.revision += 1
    return stamp


def set_workflow_count(state: SimulatorState, tenant: Tenant, count: int) -> None:
    if count < 0 or count > 100_000:
        raise ChangeError("count must be between 0 and 100000")
    replace_workflows(state.universe, tenant, count)
    state.cache.clear()


def add_workflow(state: SimulatorState, tenant: Tenant, name: str | None) -> Workflow:
    return new_workflow(state.universe, tenant, name)


def delete_workflow(state: SimulatorState, tenant: Tenant, workflow_id: int) -> None:
    if tenant.workflows.pop(workflow_id, None) is None:
        raise ChangeError(f"tenant {tenant.name} has no workflow {workflow_id}")
    tenant.revision += 1
    state.cache.clear()


def add_version(
    state: SimulatorState, tenant: Tenant, workflow: Workflow, activate: bool
) -> WorkflowVersion:
    """A new version derived from the latest; optionally made the active one."""
    version = next_version(state.universe, workflow, state.clock.now())
    workflow.versions.append(version)
    if activate:
        workflow.active_version_id = version.id
    _touch(state, tenant, workflow)
    return version


def edit_definition(
    state: SimulatorState, tenant: Tenant, workflow: Workflow, raw: dict[str, Any]
) -> None:
    """Change name/description/status/priority; the active version's export follows."""
    _validate_edit(raw)
    ensure_documents(workflow)
    for key in EDITABLE:
        if key in raw:
            setattr(workflow, key, raw[key])
    active = workflow.active_version()
    stamp = _touch(state, tenant, workflow)
    active.updated_at = stamp
    active.revision += 1
    if active.document is not None:
        exported = active.document["workflow"]
        exported.update(
            name=workflow.name, description=workflow.description, priority=workflow.priority
        )
    if "description" in raw:
        active.description = workflow.description


def _validate_edit(raw: dict[str, Any]) -> None:
    unknown = set(raw) - set(EDITABLE)
    if unknown:
        raise ChangeError(f"unknown fields: {sorted(unknown)}; editable: {list(EDITABLE)}")
    if not raw:
        raise ChangeError(f"give at least one of {list(EDITABLE)}")
    if any(not isinstance(raw[key], str) for key in raw):
        raise ChangeError("edited fields must be strings")
    if raw.get("status", "Active") not in _STATUSES:
        raise ChangeError(f"status must be one of {list(_STATUSES)}")
    if raw.get("priority", "Medium") not in _PRIORITIES:
        raise ChangeError(f"priority must be one of {list(_PRIORITIES)}")


def activate_version(
    state: SimulatorState, tenant: Tenant, workflow: Workflow, version_id: int
) -> None:
    if all(v.id != version_id for v in workflow.versions):
        raise ChangeError(f"workflow {workflow.id} has no version id {version_id}")
    workflow.active_version_id = version_id
    _touch(state, tenant, workflow)
