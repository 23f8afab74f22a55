"""Checking a tenant's credentials: one token request, then one page of `GET /workflows`, and
what is wrong said in one plain line (credentials rejected, Workflow View Access missing, an
entity id needed or refused, the host unreachable).

A check is a probe, not a sync: nothing is retried and a 401 does not renew the token (at most
two requests reach the tenant), the token stays in a cache of its own (a customer being added
must not leave one in the coordination store), nothing is paced, and each request has a short
deadline. The secret and the token are never part of a result or a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from zuora_workflow_sync.domain.models import Customer
from zuora_workflow_sync.domain.retry import RetryPolicy
from zuora_workflow_sync.errors import ZuoraError
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.sync.check_problems import (
    LIST_STEP,
    TOKEN_STEP,
    CheckProblem,
    Diagnosis,
    diagnose,
    entity_mismatch,
)
from zuora_workflow_sync.zuora import (
    ClientSettings,
    TenantCredentials,
    TokenCache,
    TokenGrant,
    TransportLimits,
    ZuoraClient,
    ZuoraResult,
    new_http_client,
)
from zuora_workflow_sync.zuora.models import WorkflowPage

logger = logging.getLogger(__name__)

CHECK_PAGE_LENGTH = 20  # Zuora's default page length: enough to show the listing works
CHECK_DEADLINE_SECONDS = 20.0
CHECK_TRACK_ID = "zws-credentials-check"

__all__ = ["CheckProblem", "CheckResult", "TenantAccess", "check_credentials"]


@dataclass(frozen=True, slots=True)
class TenantAccess:
    """Where a tenant lives and whose OAuth client to try (of a customer, stored or new)."""

    base_url: str
    client_id: str
    entity_id: str | None = None

    @classmethod
    def of(cls, customer: Customer) -> TenantAccess:
        return cls(customer.zuora_base_url, customer.client_id, customer.entity_id)

    @property
    def host(self) -> str:
        return httpx.URL(self.base_url).netloc.decode("ascii", errors="replace")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: `problem` is None when it passed; `message` is one line."""

    message: str
    problem: CheckProblem | None = None
    token_issued: bool = False
    entity_ids: tuple[str, ...] = ()
    workflows_on_first_page: int | None = None
    more_pages: bool = False
    status: int | None = None
    failed_at: str | None = None
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def as_json(self) -> dict[str, Any]:
        """The documented shape of `customers check --json` (every key always present)."""
        return {
            "ok": self.ok,
            "problem": None if self.problem is None else self.problem.value,
            "message": self.message,
            "token": "issued" if self.token_issued else "not_issued",
            "workflows_on_first_page": self.workflows_on_first_page,
            "more_pages": self.more_pages,
            "entity_ids": list(self.entity_ids),
            "status": self.status,
            "failed_at": self.failed_at,
            "request_id": self.request_id,
        }


async def check_credentials(
    settings: Settings,
    access: TenantAccess,
    secret: SecretStr,
    *,
    deadline_seconds: float = CHECK_DEADLINE_SECONDS,
) -> CheckResult:
    """Ask the tenant for a token and the first page of workflows, once each; never raises
    for what Zuora (or the network) answers: the answer is the result."""
    credentials = TenantCredentials(access.base_url, access.client_id, secret, access.entity_id)
    limits = _probe_settings(settings, min(deadline_seconds, settings.http_deadline_seconds))
    async with new_http_client(limits.transport, max_connections=1) as http:
        client = ZuoraClient(
            credentials,
            http=http,
            token_cache=TokenCache(),
            settings=limits,
            track_id=CHECK_TRACK_ID,
        )
        result = await _probe(client, access)
    _log(access, result)
    return result


def _probe_settings(settings: Settings, deadline_seconds: float) -> ClientSettings:
    return ClientSettings(
        transport=TransportLimits(
            deadline_seconds=deadline_seconds,
            connect_timeout_seconds=min(10.0, deadline_seconds),
            read_timeout_seconds=deadline_seconds,
            max_body_bytes=settings.http_max_body_bytes,
        ),
        retry=RetryPolicy(max_attempts=1),
        page_length=CHECK_PAGE_LENGTH,
    )


async def _probe(client: ZuoraClient, access: TenantAccess) -> CheckResult:
    try:
        grant = await client.authenticate()
    except ZuoraError as error:
        diagnosis = diagnose(error, TOKEN_STEP, access.host, access.entity_id)
        return _failed(diagnosis, error, token_issued=False, entities=())
    entities = () if grant is None else grant.entity_ids
    mismatch = entity_mismatch(access.entity_id, entities)
    if mismatch is not None:
        return _refused_entity(mismatch, grant)
    try:
        page = await client.probe_workflows()
    except ZuoraError as error:
        diagnosis = diagnose(error, LIST_STEP, access.host, access.entity_id)
        return _failed(diagnosis, error, token_issued=True, entities=entities)
    return _passed(page, entities, access.entity_id)


def _failed(
    diagnosis: Diagnosis, error: ZuoraError, *, token_issued: bool, entities: tuple[str, ...]
) -> CheckResult:
    return CheckResult(
        message=f"Check failed: {diagnosis.text}",
        problem=diagnosis.problem,
        token_issued=token_issued,
        entity_ids=entities,
        status=error.status,
        failed_at=diagnosis.step,
        request_id=error.request_id,
    )


def _refused_entity(diagnosis: Diagnosis, grant: TokenGrant | None) -> CheckResult:
    """Decided from the token's scope alone: the listing Zuora would refuse is not sent."""
    return CheckResult(
        message=f"Check failed: {diagnosis.text}",
        problem=diagnosis.problem,
        token_issued=True,
        entity_ids=() if grant is None else grant.entity_ids,
        failed_at=diagnosis.step,
        request_id=None if grant is None else grant.request_id,
    )


def _passed(
    page: ZuoraResult[WorkflowPage], entities: tuple[str, ...], entity_id: str | None
) -> CheckResult:
    count = len(page.value.data)
    pagination = page.value.pagination
    more = pagination is not None and bool(pagination.next_page)
    text = f"token issued, {count} workflow{'' if count == 1 else 's'} on the first page"
    if more:
        text += " (more on the next pages)"
    if entity_id is not None:
        text += f", entity {entity_id}"
    return CheckResult(
        message=f"Check passed: {text}",
        token_issued=True,
        entity_ids=entities,
        workflows_on_first_page=count,
        more_pages=more,
        status=page.meta.status,
        request_id=page.meta.request_id,
    )


def _log(access: TenantAccess, result: CheckResult) -> None:
    logger.info(
        "credentials check of %s (client id %s): %s",
        access.host,
        access.client_id,
        "passed" if result.problem is None else result.problem.value,
        extra={
            "event": "credentials_check",
            "problem": None if result.problem is None else result.problem.value,
            "status": result.status,
            "zuora_request_id": result.request_id,
        },
    )
