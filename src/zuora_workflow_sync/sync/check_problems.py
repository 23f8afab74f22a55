"""What a failed credentials check means, in words: a Zuora error (or the token's scope) and
the request it came from become a `CheckProblem` and one plain sentence. Pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from zuora_workflow_sync.errors import (
    ConnectionFailedError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    ZuoraError,
)

TOKEN_STEP = "POST /oauth/token"
LIST_STEP = "GET /workflows"
_CHECK_CREDENTIALS = "check the client id and secret, and that the environment is the tenant's"


class CheckProblem(StrEnum):
    """Why a check failed (the `problem` of `customers check --json`)."""

    CREDENTIALS_REJECTED = "credentials_rejected"
    PERMISSION_DENIED = "permission_denied"
    ENTITY_REQUIRED = "entity_required"
    ENTITY_REFUSED = "entity_refused"
    UNREACHABLE = "unreachable"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    UNEXPECTED_RESPONSE = "unexpected_response"
    REQUEST_REFUSED = "request_refused"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A problem, the request that showed it, and the sentence that explains it."""

    problem: CheckProblem
    step: str
    text: str


def entity_mismatch(entity_id: str | None, entities: tuple[str, ...]) -> Diagnosis | None:
    """What the token's scope alone says is wrong with the entity id (or its absence)."""
    offered = ", ".join(entities)
    if entity_id is None and len(entities) > 1:
        text = f"this tenant has several entities; add --entity-id with one of: {offered}"
        return Diagnosis(CheckProblem.ENTITY_REQUIRED, TOKEN_STEP, text)
    if entity_id is not None and entities and not _offers(entities, entity_id):
        text = f"entity {entity_id} is not one the token covers; use --entity-id with: {offered}"
        return Diagnosis(CheckProblem.ENTITY_REFUSED, TOKEN_STEP, text)
    return None


def diagnose(error: ZuoraError, step: str, host: str, entity_id: str | None) -> Diagnosis:
    """The problem `error` shows, raised by the request `step` to `host`."""
    where = _where(error, step)
    if isinstance(error, ConnectionFailedError):
        reason = error.message.removeprefix(f"connection failed on {step}: ")
        return Diagnosis(CheckProblem.UNREACHABLE, step, f"cannot reach {host} ({reason})")
    if isinstance(error, RateLimitedError):
        wait = error.retry_after_seconds
        later = "later" if wait is None else f"in {wait:.0f} s"
        text = f"Zuora is rate limiting these credentials ({where}); try again {later}"
        return Diagnosis(CheckProblem.RATE_LIMITED, step, text)
    if isinstance(error, ServerError):
        text = f"Zuora failed to answer ({where}); try again later"
        return Diagnosis(CheckProblem.SERVER_ERROR, step, text)
    if isinstance(error, ProtocolError):
        text = f"{host} did not answer like Zuora's API ({where}): {error.message}"
        return Diagnosis(CheckProblem.UNEXPECTED_RESPONSE, step, text)
    if step == TOKEN_STEP:
        return _token_refused(error, where, entity_id)
    return _listing_refused(error, where, entity_id)


def _token_refused(error: ZuoraError, where: str, entity_id: str | None) -> Diagnosis:
    if error.status == 404:
        text = f"no Zuora OAuth endpoint answered ({where}); check the environment or --base-url"
        return Diagnosis(CheckProblem.NOT_FOUND, TOKEN_STEP, text)
    if error.status == 403 and entity_id is not None:
        text = (
            f"Zuora refused entity {entity_id} for these credentials ({where}); check "
            "--entity-id (a check without it lists the entities the credentials offer)"
        )
        return Diagnosis(CheckProblem.ENTITY_REFUSED, TOKEN_STEP, text)
    text = f"Zuora rejected the client credentials ({where}); {_CHECK_CREDENTIALS}"
    return Diagnosis(CheckProblem.CREDENTIALS_REJECTED, TOKEN_STEP, text)


def _listing_refused(error: ZuoraError, where: str, entity_id: str | None) -> Diagnosis:
    status = error.status
    if status == 401:
        text = f"Zuora issued a token, then refused it ({where}); {_CHECK_CREDENTIALS}"
        return Diagnosis(CheckProblem.CREDENTIALS_REJECTED, LIST_STEP, text)
    if status == 403 and entity_id is not None and "entit" in error.message.lower():
        text = f"Zuora refused entity {entity_id} ({where}); check --entity-id"
        return Diagnosis(CheckProblem.ENTITY_REFUSED, LIST_STEP, text)
    if status == 403:
        text = (
            f"the Zuora user lacks Workflow View Access ({where}); grant it to the user of "
            "this OAuth client"
        )
        return Diagnosis(CheckProblem.PERMISSION_DENIED, LIST_STEP, text)
    if status == 400 and entity_id is None and "entit" in error.message.lower():
        text = f"this tenant needs --entity-id ({where}): {error.message}"
        return Diagnosis(CheckProblem.ENTITY_REQUIRED, LIST_STEP, text)
    if status == 404:
        text = f"Zuora has no Workflow API here ({where}); check the environment or --base-url"
        return Diagnosis(CheckProblem.NOT_FOUND, LIST_STEP, text)
    return Diagnosis(CheckProblem.REQUEST_REFUSED, LIST_STEP, f"{error.message} ({where})")


def _where(error: ZuoraError, step: str) -> str:
    """`401 at POST /oauth/token, Zuora-Request-Id ...`: what to quote to Zuora support."""
    text = f"at {step}" if error.status is None else f"{error.status} at {step}"
    return text if not error.request_id else f"{text}, Zuora-Request-Id {error.request_id}"


def _offers(entities: tuple[str, ...], entity_id: str) -> bool:
    """Entity ids compare without case or hyphens (`--entity-id` accepts both UUID forms)."""

    def plain(value: str) -> str:
        return value.replace("-", "").lower()

    return plain(entity_id) in {plain(entity) for entity in entities}
