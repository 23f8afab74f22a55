"""The Zuora Workflow API client: OAuth, retries, pagination, typed results.

Async on purpose: a worker syncs many customers at once and each sync holds several export
calls in flight; hundreds of idle sockets cost one event loop and a few KiB each, where a
thread pool would pay a thread per request. One `httpx.AsyncClient` (the connection pool) and
one `TokenCache` are shared by every `ZuoraClient` of a process; a `ZuoraClient` serves one
tenant and is cheap to create.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from zuora_workflow_sync.domain.retry import RetryPolicy
from zuora_workflow_sync.errors import ConfigurationError, ProtocolError, ZuoraError
from zuora_workflow_sync.monitoring import metrics
from zuora_workflow_sync.zuora.auth import TenantCredentials, TokenCache, validate_track_id
from zuora_workflow_sync.zuora.gate import Observation, OpenGate, RequestGate
from zuora_workflow_sync.zuora.models import (
    AccessToken,
    WorkflowDefinition,
    WorkflowExport,
    WorkflowPage,
    WorkflowVersion,
    WorkflowVersionList,
)
from zuora_workflow_sync.zuora.pagination import PageWalk
from zuora_workflow_sync.zuora.ratelimit import (
    ConcurrencyInfo,
    RateLimitInfo,
    parse_concurrency,
    parse_rate_limit,
    retry_after_from,
)
from zuora_workflow_sync.zuora.responses import error_for_status, parse_json, safe_text
from zuora_workflow_sync.zuora.transport import RawResponse, TransportLimits, exchange, get

logger = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_PAGE_LENGTH = 50  # Zuora's documented maximum for GET /workflows (zuora-api.md 3.3)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Tunables of a ZuoraClient; defaults follow Zuora's published advice."""

    transport: TransportLimits = field(default_factory=TransportLimits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    page_length: int = MAX_PAGE_LENGTH
    max_pages: int = 10_000

    def __post_init__(self) -> None:
        if not 1 <= self.page_length <= MAX_PAGE_LENGTH:
            raise ConfigurationError(f"page_length must be between 1 and {MAX_PAGE_LENGTH}")
        if self.max_pages < 1:
            raise ConfigurationError("max_pages must be at least 1")


@dataclass(frozen=True, slots=True)
class ResponseMeta:
    """What one Zuora response said about itself, for logs and the pacing layer."""

    method: str
    path: str
    status: int
    request_id: str | None
    rate_limit: RateLimitInfo | None
    concurrency: ConcurrencyInfo | None
    elapsed_seconds: float


@dataclass(frozen=True, slots=True)
class ZuoraResult(Generic[T]):
    """A parsed value with the metadata of the response that carried it."""

    value: T
    meta: ResponseMeta


@dataclass(frozen=True, slots=True)
class ReceivedExport:
    """The response of `GET /workflows/{id}/export`, before parsing."""

    raw: RawResponse
    meta: ResponseMeta

    def parse(self) -> ZuoraResult[WorkflowExport]:
        """The typed export, with the whole document as parsed; ProtocolError if malformed."""
        export, document = _parse(WorkflowExport, self.raw)
        return ZuoraResult(export.model_copy(update={"document": document}), self.meta)


@dataclass(frozen=True, slots=True)
class WorkflowListing:
    """Every workflow definition of a tenant, from a listing that reached its last page."""

    workflows: list[WorkflowDefinition]
    responses: list[ResponseMeta]

    @property
    def pages(self) -> int:
        return len(self.responses)


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a successful `POST /oauth/token` said besides the token itself (which stays in the
    token cache): its lifetime, the entities its scope covers, the response's request id."""

    expires_in_seconds: float
    entity_ids: tuple[str, ...]
    request_id: str | None


ResponseObserver = Callable[[ResponseMeta], None]
Sleep = Callable[[float], Awaitable[None]]


class ZuoraClient:
    """Calls the Workflow API of one tenant.

    Every call is retried per `settings.retry`; a 401 renews the token once and retries once.
    Each request waits for a slot of `gate` (the tenant's pacing) and reports its response to it;
    token requests do the same with `token_gate` (the token endpoint's per-IP budget).
    `token_requests` and `api_requests` count what this client sent (retries included),
    `throttled_responses` the replies that were a 429 (token requests included).
    """

    def __init__(
        self,
        credentials: TenantCredentials,
        *,
        http: httpx.AsyncClient,
        token_cache: TokenCache,
        settings: ClientSettings | None = None,
        track_id: str | None = None,
        observer: ResponseObserver | None = None,
        gate: RequestGate | None = None,
        token_gate: RequestGate | None = None,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._credentials = credentials
        self._http = http
        self._tokens = token_cache
        self._settings = settings or ClientSettings()
        self._track_id = validate_track_id(track_id)
        self._observer = observer
        self._gate: RequestGate = gate or OpenGate()
        self._token_gate: RequestGate = token_gate or OpenGate()
        self._rng = rng or random.Random()
        self._sleep = sleep
        self.token_requests = 0
        self.api_requests = 0
        self.throttled_responses = 0

    def __repr__(self) -> str:
        return f"ZuoraClient(base_url={self._credentials.base_url!r})"

    async def list_workflows(self) -> WorkflowListing:
        """Every definition, paging until the end; PaginationError on an endless listing."""
        workflows: dict[int, WorkflowDefinition] = {}
        responses: list[ResponseMeta] = []
        async for result in self.iter_workflow_pages():
            responses.append(result.meta)
            for item in result.value.data:
                workflows[item.id] = item
        return WorkflowListing(list(workflows.values()), responses)

    async def iter_workflow_pages(self) -> AsyncIterator[ZuoraResult[WorkflowPage]]:
        """Each page of `GET /workflows` in order, with its response metadata."""
        walk = PageWalk(self._settings.page_length, self._settings.max_pages)
        page_number = 1
        while True:
            params = {"page": str(page_number), "page_length": str(walk.page_length)}
            result = await self._get_model("/workflows", WorkflowPage, params)
            more = walk.accept(page_number, result.value)
            yield result
            if not more:
                return
            page_number += 1

    async def authenticate(self) -> TokenGrant | None:
        """Hold a usable token now: the cached one, or one `POST /oauth/token` (not retried).
        Returns what Zuora said when it issued the token (None when it came from the cache)."""
        issued: list[TokenGrant] = []

        async def fetch() -> tuple[SecretStr, float]:
            token, grant = await self._request_token()
            issued.append(grant)
            return token, grant.expires_in_seconds

        await self._tokens.get(self._credentials.cache_key, fetch)
        return issued[0] if issued else None

    async def probe_workflows(self) -> ZuoraResult[WorkflowPage]:
        """Page 1 of `GET /workflows` in exactly one request, a token request first if needed:
        no retry and no token renewal on a 401, so a check never repeats a refused request."""
        params = {"page": "1", "page_length": str(self._settings.page_length)}
        raw, meta, _ = await self._get("/workflows", params)
        if raw.status >= 400:
            raise error_for_status(raw.status, raw.headers, raw.body)
        return ZuoraResult(_parse(WorkflowPage, raw)[0], meta)

    async def get_workflow(self, workflow_id: int) -> ZuoraResult[WorkflowDefinition]:
        """`GET /workflows/{id}`."""
        return await self._get_model(f"/workflows/{int(workflow_id)}", WorkflowDefinition)

    async def list_versions(self, workflow_id: int) -> ZuoraResult[list[WorkflowVersion]]:
        """`GET /workflows/{id}/versions`: every version of a definition."""
        path = f"/workflows/{int(workflow_id)}/versions"
        result = await self._get_model(path, WorkflowVersionList)
        return ZuoraResult(result.value.data, result.meta)

    async def export_workflow(
        self, workflow_id: int, version: str | None = None
    ) -> ZuoraResult[WorkflowExport]:
        """`GET /workflows/{id}/export`: the active version, or `version` (`X.Y.Z` or `latest`)."""
        return (await self.receive_export(workflow_id, version)).parse()

    async def receive_export(self, workflow_id: int, version: str | None = None) -> ReceivedExport:
        """`export_workflow`'s request alone: the body arrived, not yet parsed (a caller that
        limits its requests in flight can let the next one go before parsing this one)."""
        params = {"version": version} if version is not None else None
        raw, meta = await self._request(f"/workflows/{int(workflow_id)}/export", params)
        return ReceivedExport(raw, meta)

    async def _get_model(
        self, path: str, model: type[M], params: Mapping[str, str] | None = None
    ) -> ZuoraResult[M]:
        raw, meta = await self._request(path, params)
        return ZuoraResult(_parse(model, raw)[0], meta)

    async def _request(
        self, path: str, params: Mapping[str, str] | None
    ) -> tuple[RawResponse, ResponseMeta]:
        attempt = 1
        while True:
            try:
                return await self._authorized_get(path, params)
            except ZuoraError as error:
                decision = self._settings.retry.decide(error, attempt, self._rng)
                if not decision.retry:
                    raise
                logger.info(
                    "retrying GET %s in %.2fs: %s",
                    path,
                    decision.delay_seconds,
                    error,
                    extra={"zuora_path": path, "attempt": attempt},
                )
                await self._sleep(decision.delay_seconds)
                attempt += 1

    async def _authorized_get(
        self, path: str, params: Mapping[str, str] | None
    ) -> tuple[RawResponse, ResponseMeta]:
        """One attempt; a 401 drops the token, renews it and tries exactly once more."""
        raw, meta, token = await self._get(path, params)
        if raw.status == 401:
            self._tokens.invalidate(self._credentials.cache_key, token)
            raw, meta, _ = await self._get(path, params)
        if raw.status >= 400:
            raise error_for_status(raw.status, raw.headers, raw.body)
        return raw, meta

    async def _get(
        self, path: str, params: Mapping[str, str] | None
    ) -> tuple[RawResponse, ResponseMeta, SecretStr]:
        """One request, and the token it carried. The token is read once the tenant's pacing
        lets the request go, so a long wait for a slot cannot send an expired token."""
        async with self._gate.slot() as slot:
            token = await self._tokens.get(self._credentials.cache_key, self._fetch_token)
            headers = self._headers()
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
            self.api_requests += 1
            url = self._credentials.base_url + path
            raw = await get(self._http, url, params, headers, self._settings.transport)
            self.throttled_responses += raw.status == 429
            metrics.zuora_replied(path, raw.status)
            rate_limit = parse_rate_limit(raw.headers)
            concurrency = parse_concurrency(raw.headers)
            slot.observe(_observation(raw, rate_limit, concurrency))
        meta = ResponseMeta(
            method="GET",
            path=path,
            status=raw.status,
            request_id=raw.request_id,
            rate_limit=rate_limit,
            concurrency=concurrency,
            elapsed_seconds=raw.elapsed_seconds,
        )
        if self._observer is not None:
            self._observer(meta)
        return raw, meta, token

    async def _fetch_token(self) -> tuple[SecretStr, float]:
        token, grant = await self._request_token()
        return token, grant.expires_in_seconds

    async def _request_token(self) -> tuple[SecretStr, TokenGrant]:
        """`POST /oauth/token`; any non-2xx except 429/5xx means the credentials are bad."""
        form = {
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret.get_secret_value(),
            "grant_type": "client_credentials",
        }
        request = self._http.build_request(
            "POST", self._credentials.base_url + "/oauth/token", data=form, headers=self._headers()
        )
        async with self._token_gate.slot() as slot:
            self.token_requests += 1
            raw = await exchange(self._http, request, self._settings.transport)
            self.throttled_responses += raw.status == 429
            metrics.zuora_replied("/oauth/token", raw.status)
            slot.observe(_observation(raw, None, None))
        if raw.status >= 300:
            raise error_for_status(raw.status, raw.headers, raw.body, token_call=True)
        token, _ = _parse(AccessToken, raw)
        if token.token_type.lower() != "bearer":
            raise ProtocolError(f"unexpected token_type {token.token_type[:20]!r}")
        grant = TokenGrant(token.expires_in, token.entity_ids, raw.request_id)
        metrics.token_issued()
        return token.access_token, grant

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "Accept-Encoding": "gzip"}
        if self._track_id:
            headers["Zuora-Track-Id"] = self._track_id
        if self._credentials.entity_id:
            headers["Zuora-Entity-Ids"] = self._credentials.entity_id
        return headers


def _observation(
    raw: RawResponse, rate_limit: RateLimitInfo | None, concurrency: ConcurrencyInfo | None
) -> Observation:
    return Observation(
        status=raw.status,
        rate_limit=rate_limit,
        concurrency=concurrency,
        retry_after_seconds=retry_after_from(raw.headers),
        elapsed_seconds=raw.elapsed_seconds,
    )


def _parse(model: type[M], raw: RawResponse) -> tuple[M, Any]:
    """The body as `model`, and the JSON document it was read from; ProtocolError otherwise."""
    document = parse_json(raw.body, status=raw.status, request_id=raw.request_id)
    # After parsing, so a body that is not JSON at all is reported with its excerpt.
    _require_json_media_type(raw)
    return _validate(model, document, raw), document


def _require_json_media_type(raw: RawResponse) -> None:
    """Zuora labels its JSON `application/json` (with a charset): a body labelled otherwise is
    not what the API promises, even when it happens to parse (a proxy's page, a wrong route)."""
    content_type = raw.headers.get("content-type")
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return
    raise ProtocolError(
        f"expected a JSON response, got Content-Type {safe_text(media_type, 60)!r}",
        status=raw.status,
        request_id=raw.request_id,
    )


def _validate(model: type[M], document: Any, raw: RawResponse) -> M:
    """Validate a parsed body; the message names fields, never their (possibly secret) values."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)[:3]
        )
        raise ProtocolError(
            f"unexpected {model.__name__} shape: {problems}",
            status=raw.status,
            request_id=raw.request_id,
        ) from None
