"""Pydantic models of the Zuora payloads the product uses, tolerant of fields it does not.

Unknown fields are ignored (Zuora adds fields without notice); the export document is also
kept whole as parsed JSON, because task `parameters` are free-form (zuora-api.md 3.6).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

_ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?$")
_ENTITY_WORD = re.compile(r"^[0-9A-Za-z-]+$")
_SPACED = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d{1,6})?( UTC)?$")


def parse_zuora_timestamp(value: object) -> datetime | None:
    """Parse the three timestamp forms Zuora uses into an aware UTC datetime.

    `2019-05-31T14:52:38.171Z` (definitions), `2019-09-10 19:32:21 UTC` (runs) and the
    schema's `YYYY-MM-DD HH:MM:SS`; empty strings and None are None (zuora-api.md 3.1).
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError("a Zuora timestamp must be a string")
    text = value.strip()
    spaced = _SPACED.match(text)
    if spaced:
        text = f"{spaced.group(1)}T{spaced.group(2)}{spaced.group(3) or ''}"
    elif not _ISO_Z.match(text):
        raise ValueError(f"unrecognised Zuora timestamp {value[:40]!r}")
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


ZuoraTimestamp = Annotated[datetime | None, BeforeValidator(parse_zuora_timestamp)]


def _label_or_none(value: object) -> str | None:
    """A short label the product only indexes (a task's priority): kept when it is a string of
    at most 32 characters, else None, so an odd value never fails the export."""
    return value if isinstance(value, str) and len(value) <= 32 else None


IndexedLabel = Annotated[str | None, BeforeValidator(_label_or_none)]

_TOLERANT = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class AccessToken(BaseModel):
    """The body of a successful `POST /oauth/token`; there is no refresh token."""

    model_config = _TOLERANT

    access_token: SecretStr = Field(min_length=1, max_length=4096)
    token_type: str = "bearer"
    expires_in: float = Field(gt=0, le=10 * 24 * 3600)
    scope: str | None = None
    jti: str | None = None

    @property
    def entity_ids(self) -> tuple[str, ...]:
        """The `entity.<uuid>` entries of `scope`, in order (zuora-api.md 1.1, Multi-entity)."""
        words = (self.scope or "").split()
        found = (word.removeprefix("entity.") for word in words if word.startswith("entity."))
        return tuple(word for word in found if 0 < len(word) <= 64 and _ENTITY_WORD.match(word))


class ActiveVersion(BaseModel):
    """`active_version` of a workflow definition."""

    model_config = _TOLERANT

    id: int
    version: str | None = None
    description: str | None = None
    type: str | None = None
    status: str | None = None


class WorkflowVersion(BaseModel):
    """One version of a definition (`GET /workflows/{id}/versions`, `latest_inactive_verisons`)."""

    model_config = _TOLERANT

    id: int
    name: str | None = None
    description: str | None = None
    version: str | None = None
    type: str | None = None
    status: str | None = None
    created_at: ZuoraTimestamp = Field(default=None, alias="createdAt")
    updated_at: ZuoraTimestamp = Field(default=None, alias="updatedAt")


class WorkflowDefinition(BaseModel):
    """A definition as listed by `GET /workflows` or retrieved by `GET /workflows/{id}`."""

    model_config = _TOLERANT

    id: int
    name: str = ""
    description: str | None = None
    status: str | None = None
    callout_trigger: bool | None = Field(default=None, alias="calloutTrigger")
    ondemand_trigger: bool | None = Field(default=None, alias="ondemandTrigger")
    scheduled_trigger: bool | None = Field(default=None, alias="scheduledTrigger")
    interval: str | None = None
    timezone: str | None = None
    priority: str | None = None
    created_at: ZuoraTimestamp = Field(default=None, alias="createdAt")
    updated_at: ZuoraTimestamp = Field(default=None, alias="updatedAt")
    active_version: ActiveVersion | None = None
    # Zuora's key really is misspelled "verisons" (zuora-api.md 3.3).
    latest_inactive_versions: list[WorkflowVersion] = Field(
        default_factory=list, alias="latest_inactive_verisons"
    )


class Pagination(BaseModel):
    """`pagination` of a list response; `next_page` is an absolute URL, absent on the last page."""

    model_config = _TOLERANT

    page: int | None = None
    page_length: int | None = None
    next_page: str | None = None


class WorkflowPage(BaseModel):
    """One page of `GET /workflows`."""

    model_config = _TOLERANT

    data: list[WorkflowDefinition]
    pagination: Pagination | None = None


class WorkflowVersionList(BaseModel):
    """`GET /workflows/{id}/versions`: every version, not paginated."""

    model_config = _TOLERANT

    data: list[WorkflowVersion]


class ExportedWorkflow(BaseModel):
    """The `workflow` object of an export (snake_case keys, unlike the list API)."""

    model_config = _TOLERANT

    id: int | None = None
    name: str | None = None
    description: str | None = None
    version: str | None = None
    type: str | None = None
    status: str | None = None
    priority: str | None = None


class ExportedTask(BaseModel):
    """One entry of an export's `tasks`: the fields the product indexes."""

    model_config = _TOLERANT

    id: int
    name: str | None = None
    action_type: str | None = None
    object: str | None = None
    object_id: str | int | None = None
    call_type: str | None = None
    task_id: int | None = None
    tags: list[str] | None = None
    priority: IndexedLabel = None
    parameters: dict[str, Any] | None = None


class Linkage(BaseModel):
    """One edge of an export's task graph."""

    model_config = _TOLERANT

    source_workflow_id: int | None = None
    source_task_id: int | None = None
    target_task_id: int | None = None
    linkage_type: str | None = None


class WorkflowExport(BaseModel):
    """`GET /workflows/{id}/export`: a typed view plus the whole document as parsed (`document`)."""

    model_config = _TOLERANT

    workflow: ExportedWorkflow
    tasks: list[ExportedTask] = Field(default_factory=list)
    linkages: list[Linkage] = Field(default_factory=list)
    document: dict[str, Any] = Field(default_factory=dict, exclude=True)
