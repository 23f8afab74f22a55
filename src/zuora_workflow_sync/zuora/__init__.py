"""The only package that knows Zuora's URLs, headers and payloads."""

from __future__ import annotations

from zuora_workflow_sync.zuora.auth import TenantCredentials, TokenCache
from zuora_workflow_sync.zuora.client import (
    ClientSettings,
    ResponseMeta,
    TokenGrant,
    WorkflowListing,
    ZuoraClient,
    ZuoraResult,
)
from zuora_workflow_sync.zuora.environments import ENVIRONMENTS, resolve_base_url
from zuora_workflow_sync.zuora.transport import TransportLimits, new_http_client

__all__ = [
    "ENVIRONMENTS",
    "ClientSettings",
    "ResponseMeta",
    "TenantCredentials",
    "TokenCache",
    "TokenGrant",
    "TransportLimits",
    "WorkflowListing",
    "ZuoraClient",
    "ZuoraResult",
    "new_http_client",
    "resolve_base_url",
]
