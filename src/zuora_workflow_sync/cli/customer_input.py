"""Validating what the operator types into `workflow-sync customers`: each check raises a
ConfigurationError naming the first bad value, before anything is written."""

from __future__ import annotations

import re
from dataclasses import dataclass

from zuora_workflow_sync.cli.db import parse_id
from zuora_workflow_sync.domain.models import MAX_IN_FLIGHT_LIMIT, CustomerStatus, TenantType
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store.tables import NAME_MAX_LENGTH
from zuora_workflow_sync.zuora.environments import ALIASES, resolve_base_url

# Zuora's OAuth client ids are exactly 36 characters (the field constraint of its token
# request; ../shared/zuora-api.md, DEV-TOKEN), e.g. a UUID.
CLIENT_ID_LENGTH = 36
_SHOWN_MAX_LENGTH = 200
_ENTITY_ID = re.compile(r"[0-9a-f]{8}(-?)[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{12}", re.I)
DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class NewCustomer:
    """The validated options of `customers add`."""

    name: str
    base_url: str
    environment: str | None
    client_id: str
    entity_id: str | None
    customer_id: int | None


@dataclass(frozen=True, slots=True)
class Pacing:
    """Per-customer pacing overrides; None means the defaults."""

    max_in_flight: int | None = None
    tenant_type: TenantType | None = None


def new_customer(
    name: str,
    environment: str | None,
    base_url: str | None,
    client_id: str,
    entity_id: str | None,
    customer_id: str | None,
) -> NewCustomer:
    """The validated options of `customers add`; ConfigurationError for the first bad one."""
    return NewCustomer(
        name=_printable(name, "a customer name", NAME_MAX_LENGTH),
        base_url=resolve_base_url(environment=environment, base_url=base_url),
        environment=None if environment is None else _environment_name(environment),
        client_id=_client_id(client_id),
        entity_id=None if entity_id is None else parse_entity_id(entity_id),
        customer_id=None if customer_id is None else parse_id(customer_id, "customer"),
    )


def pacing(max_in_flight: str | None, tenant_type: str | None) -> Pacing:
    """`--max-in-flight N` (1-40) and `--tenant-type TYPE`; "default" (or absent) is None."""
    return Pacing(
        max_in_flight=_max_in_flight(max_in_flight),
        tenant_type=_tenant_type(tenant_type),
    )


def parse_status(text: str) -> CustomerStatus:
    try:
        return CustomerStatus(text.strip().lower())
    except ValueError:
        raise ConfigurationError(
            f"unknown status {text[:40]!r}; use active, paused or disabled"
        ) from None


def _max_in_flight(text: str | None) -> int | None:
    if text is None or text.strip().lower() == DEFAULT:
        return None
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 3) or not (
        1 <= int(value) <= MAX_IN_FLIGHT_LIMIT
    ):
        raise ConfigurationError(
            f"--max-in-flight must be an integer from 1 to {MAX_IN_FLIGHT_LIMIT} or 'default', "
            f"got {text[:40]!r}"
        )
    return int(value)


def _tenant_type(text: str | None) -> TenantType | None:
    if text is None or text.strip().lower() == DEFAULT:
        return None
    try:
        return TenantType(text.strip().lower().replace("-", "_"))
    except ValueError:
        choices = ", ".join(member.value for member in TenantType)
        raise ConfigurationError(
            f"unknown tenant type {text[:40]!r}; use {choices} or 'default'"
        ) from None


def _printable(value: str, what: str, maximum: int) -> str:
    if not 1 <= len(value) <= maximum or not value.isprintable() or not value.strip():
        raise ConfigurationError(f"{what} must be 1 to {maximum} printable characters")
    return value


def _client_id(value: str) -> str:
    client_id = _printable(value, "a client id", _SHOWN_MAX_LENGTH)
    if any(character.isspace() for character in client_id):
        raise ConfigurationError("a client id must not contain spaces")
    if len(client_id) != CLIENT_ID_LENGTH:
        raise ConfigurationError(
            f"a Zuora client id has exactly {CLIENT_ID_LENGTH} characters, got {len(client_id)}"
        )
    return client_id


def _environment_name(value: str) -> str:
    key = value.strip().lower()
    return ALIASES.get(key, key)


def parse_entity_id(value: str) -> str:
    """An entity id as `--entity-id` takes it: a UUID (with or without hyphens)."""
    text = value.strip()
    if not _ENTITY_ID.fullmatch(text):
        raise ConfigurationError(f"an entity id must be a UUID, got {text[:40]!r}")
    return text
