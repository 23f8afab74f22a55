"""How the operator names things on the read side: a customer by id or exact name, a workflow
by local id or `CUSTOMER:ZUORA_WORKFLOW_ID`, a stored version by history number, content hash
prefix or Zuora version (`0.0.2`). An unknown name is a `NotFoundError`, a malformed one a
`ConfigurationError`; both are one line on the command line.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine

from zuora_workflow_sync.domain.models import Customer
from zuora_workflow_sync.domain.records import HistoryEntry, WorkflowRecord
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.reads import WorkflowReader

CUSTOMER_ID_MAX = 2**31 - 1
WIDE_ID_MAX = 2**63 - 1
_HASH_PREFIX = re.compile(r"[0-9a-f]{4,64}")
_ZUORA_VERSION = re.compile(r"\d+(\.\d+)+")
_SHOWN_CHARS = 60


class NotFoundError(ConfigurationError):
    """A customer, workflow or version the operator named does not exist."""


def shown(text: str) -> str:
    """The operator's text, quoted and cut short, for an error message."""
    return repr(text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…")


def parse_number(text: str, maximum: int) -> int | None:
    """`text` as a whole number from 1 to `maximum` written in ASCII digits, else None."""
    value = text.strip()
    if value.isascii() and value.isdigit() and len(value) <= 19 and 1 <= int(value) <= maximum:
        return int(value)
    return None


def resolve_customer(engine: Engine, reference: str) -> Customer:
    """A customer by id, else by exact name."""
    customers = CustomerRepository(engine)
    number = parse_number(reference, CUSTOMER_ID_MAX)
    found = customers.get(number) if number is not None else None
    if found is None and reference:
        found = customers.get_by_name(reference)
    if found is None:
        raise NotFoundError(f"no customer with id or name {shown(reference)}")
    return found


def resolve_workflow(engine: Engine, reference: str) -> WorkflowRecord:
    """A workflow by local id, or `CUSTOMER:ZUORA_WORKFLOW_ID` (the last colon separates)."""
    reader = WorkflowReader(engine)
    customer_part, colon, zuora_part = reference.rpartition(":")
    if not colon:
        local_id = parse_number(reference, WIDE_ID_MAX)
        if local_id is None:
            raise ConfigurationError(
                f"a workflow is a local id or CUSTOMER:ZUORA_WORKFLOW_ID, got {shown(reference)}"
            )
        record = reader.record(local_id)
        if record is None:
            raise NotFoundError(f"no workflow with id {local_id}")
        return record
    zuora_id = parse_number(zuora_part, WIDE_ID_MAX)
    if zuora_id is None:
        raise ConfigurationError(
            f"a Zuora workflow id is a positive number, got {shown(zuora_part)}"
        )
    customer = resolve_customer(engine, customer_part)
    record = reader.record_by_zuora_id(customer.id, zuora_id)
    if record is None:
        raise NotFoundError(f"customer {customer.id} has no workflow with Zuora id {zuora_id}")
    return record


def resolve_entry(history: list[HistoryEntry], reference: str, workflow_id: int) -> HistoryEntry:
    """A history entry by number (1 = oldest), content hash prefix, or Zuora version (the
    newest content stored under that version)."""
    text = reference.strip().lower()
    number = parse_number(text, WIDE_ID_MAX)
    if number is not None:
        if number > len(history):
            raise NotFoundError(
                f"workflow {workflow_id} has {len(history)} stored versions; no version {number}"
            )
        return history[number - 1]
    if _ZUORA_VERSION.fullmatch(text):
        matches = [entry for entry in history if entry.active_version == text]
    elif _HASH_PREFIX.fullmatch(text):
        matches = [entry for entry in history if entry.content_hash.startswith(text)]
    else:
        raise ConfigurationError(
            "a version is a number from `workflows history`, a content hash prefix (4 or more "
            f"hex digits) or a Zuora version like 0.0.2, got {shown(reference)}"
        )
    hashes = {entry.content_hash for entry in matches}
    if len(hashes) > 1 and not _ZUORA_VERSION.fullmatch(text):
        raise ConfigurationError(
            f"version {shown(reference)} matches {len(hashes)} different contents; "
            "give more of the hash or the history number"
        )
    if not matches:
        raise NotFoundError(f"workflow {workflow_id} has no stored version {shown(reference)}")
    return matches[-1]
