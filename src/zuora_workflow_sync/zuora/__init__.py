"""The only package that knows Zuora's URLs, headers and payloads.

The names below are imported on first use, so a module that needs only `zuora.environments`
(the CLI's URL checks) does not pay for the HTTP client (httpx, aiohttp) on every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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

_MODULES = {
    "ENVIRONMENTS": "environments",
    "ClientSettings": "client",
    "ResponseMeta": "client",
    "TenantCredentials": "auth",
    "TokenCache": "auth",
    "TokenGrant": "client",
    "TransportLimits": "transport",
    "WorkflowListing": "client",
    "ZuoraClient": "client",
    "ZuoraResult": "client",
    "new_http_client": "transport",
    "resolve_base_url": "environments",
}
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


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
