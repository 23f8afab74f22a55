"""The JSON shapes of the workflow endpoints, and a cache of their serialized bytes.

Shapes and casing follow the Swagger examples: camelCase definitions, the misspelled
`latest_inactive_verisons`, snake_case export documents (zuora-api.md 3.3-3.6).
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from zuora_workflow_sync.simulator.generation import ensure_documents
from zuora_workflow_sync.simulator.tenants import Workflow, WorkflowVersion, version_key

SETUP_TYPE = "Workflow::Setup"
MAX_INACTIVE_LISTED = 10


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Body:
    """Serialized JSON, with its gzip form computed once on first need."""

    __slots__ = ("_gzipped", "raw")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._gzipped: bytes | None = None

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.raw, compresslevel=5, mtime=0)
        return self._gzipped


def active_version_summary(version: WorkflowVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "description": version.description,
        "version": version.version,
        "type": SETUP_TYPE,
        "status": "Active",
    }


def version_item(workflow: Workflow, version: WorkflowVersion) -> dict[str, Any]:
    """A `Workflow` schema object, as in `/versions` and `latest_inactive_verisons`."""
    return {
        "id": version.id,
        "name": workflow.name,
        "description": version.description,
        "version": version.version,
        "type": SETUP_TYPE,
        "ondemandTrigger": workflow.ondemand_trigger,
        "calloutTrigger": workflow.callout_trigger,
        "scheduledTrigger": workflow.scheduled_trigger,
        "interval": workflow.interval,
        "timezone": workflow.timezone,
        "createdAt": version.created_at,
        "updatedAt": version.updated_at,
    }


def _definition_core(workflow: Workflow) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "name": workflow.name,
        "description": workflow.description,
        "status": workflow.status,
        "calloutTrigger": workflow.callout_trigger,
        "ondemandTrigger": workflow.ondemand_trigger,
        "scheduledTrigger": workflow.scheduled_trigger,
        "interval": workflow.interval,
        "timezone": workflow.timezone,
        "createdAt": workflow.created_at,
        "updatedAt": workflow.updated_at,
    }


def list_item(workflow: Workflow) -> dict[str, Any]:
    """A `WorkflowDefinitionAndVersions` object of `GET /workflows`."""
    item = _definition_core(workflow)
    item["active_version"] = active_version_summary(workflow.active_version())
    inactive = [v for v in workflow.versions if v.id != workflow.active_version_id]
    inactive.sort(key=lambda v: version_key(v.version))
    item["latest_inactive_verisons"] = [
        {**version_item(workflow, v), "priority": workflow.priority, "status": "Inactive"}
        for v in inactive[-MAX_INACTIVE_LISTED:]
    ]
    return item


def definition(workflow: Workflow) -> dict[str, Any]:
    """A `WorkflowDefinition` object of `GET /workflows/{id}`."""
    item = _definition_core(workflow)
    item["priority"] = workflow.priority
    item["active_version"] = active_version_summary(workflow.active_version())
    return item


def versions_payload(workflow: Workflow) -> dict[str, Any]:
    ordered = sorted(workflow.versions, key=lambda v: version_key(v.version))
    return {"data": [version_item(workflow, v) for v in ordered]}


class RenderCache:
    """Serialized bodies keyed by object id, valid while the object's revision is unchanged."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], tuple[int, Body]] = {}

    def clear(self) -> None:
        self._entries.clear()

    def _get(self, kind: str, key: int, revision: int) -> Body | None:
        entry = self._entries.get((kind, key))
        return entry[1] if entry is not None and entry[0] == revision else None

    def _put(self, kind: str, key: int, revision: int, body: Body) -> Body:
        self._entries[(kind, key)] = (revision, body)
        return body

    def list_item(self, workflow: Workflow) -> bytes:
        body = self._get("item", workflow.id, workflow.revision)
        return (
            body
            or self._put("item", workflow.id, workflow.revision, Body(encode(list_item(workflow))))
        ).raw

    def definition(self, workflow: Workflow) -> Body:
        cached = self._get("definition", workflow.id, workflow.revision)
        return cached or self._put(
            "definition", workflow.id, workflow.revision, Body(encode(definition(workflow)))
        )

    def versions(self, workflow: Workflow) -> Body:
        cached = self._get("versions", workflow.id, workflow.revision)
        return cached or self._put(
            "versions", workflow.id, workflow.revision, Body(encode(versions_payload(workflow)))
        )

    def export(self, workflow: Workflow, version: WorkflowVersion) -> Body:
        cached = self._get("export", version.id, version.revision)
        if cached is not None:
            return cached
        ensure_documents(workflow)
        return self._put("export", version.id, version.revision, Body(encode(version.document)))
