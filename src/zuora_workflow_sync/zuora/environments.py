"""Zuora's REST base URLs by environment name, and validation of a customer's base URL.

The names and hosts are those of Zuora's published `servers` list (docs: zuora-api.md section 2).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from zuora_workflow_sync.errors import ConfigurationError

ENVIRONMENTS: dict[str, str] = {
    "us-developer-sandbox": "https://rest.test.zuora.com",
    "us-cloud1-api-sandbox": "https://rest.sandbox.na.zuora.com",
    "us-cloud2-api-sandbox": "https://rest.apisandbox.zuora.com",
    "us-cloud1-production": "https://rest.na.zuora.com",
    "us-cloud2-production": "https://rest.zuora.com",
    "eu-developer-sandbox": "https://rest.test.eu.zuora.com",
    "eu-sandbox": "https://rest.sandbox.eu.zuora.com",
    "eu-production": "https://rest.eu.zuora.com",
    "ap-developer-sandbox": "https://rest.test.ap.zuora.com",
    "ap-production": "https://rest.ap.zuora.com",
}

# Short aliases an operator is likely to type; each names exactly one entry above.
ALIASES: dict[str, str] = {
    "us-production": "us-cloud1-production",
    "us-sandbox": "us-cloud1-api-sandbox",
    "us-api-sandbox": "us-cloud1-api-sandbox",
    "us-central-sandbox": "us-developer-sandbox",
    "eu-api-sandbox": "eu-sandbox",
    "eu-central-sandbox": "eu-developer-sandbox",
    "ap-central-sandbox": "ap-developer-sandbox",
}

_MAX_URL_LENGTH = 2048


def environment_base_url(name: str) -> str:
    """The REST base URL of a named environment, or a ConfigurationError listing the names."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    try:
        return ENVIRONMENTS[key]
    except KeyError:
        known = ", ".join(sorted([*ENVIRONMENTS, *ALIASES]))
        raise ConfigurationError(f"unknown Zuora environment {name!r}; known: {known}") from None


def is_loopback_host(host: str) -> bool:
    """True for localhost and addresses in 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_base_url(url: str) -> str:
    """Return the base URL without a trailing slash, or raise ConfigurationError.

    https is required; plain http is accepted only for loopback hosts (the simulator).
    No credentials, query or fragment may be embedded in the URL.
    """
    text = url.strip()
    if not text or len(text) > _MAX_URL_LENGTH or any(ord(c) < 33 for c in text):
        raise ConfigurationError("the Zuora base URL is empty, too long or contains spaces")
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(f"the Zuora base URL must be https://HOST[/PATH], got {text!r}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigurationError(
            f"plain http is allowed only for loopback hosts, not {host!r}; use https"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError("the Zuora base URL must not carry credentials, query or fragment")
    return text.rstrip("/")


def resolve_base_url(*, environment: str | None, base_url: str | None) -> str:
    """Exactly one of `environment` (a name above) or `base_url` decides where a tenant lives."""
    if (environment is None) == (base_url is None):
        raise ConfigurationError("give exactly one of an environment name or a base URL")
    if environment is not None:
        return environment_base_url(environment)
    assert base_url is not None
    return validate_base_url(base_url)
