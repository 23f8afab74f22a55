"""The words of a failed credentials check: a Zuora error and the request it came from (or the
token's scope) become one `CheckProblem` and one sentence."""

from __future__ import annotations

import pytest

from zuora_workflow_sync.errors import (
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RequestTimeoutError,
    ZuoraError,
)
from zuora_workflow_sync.sync.check_problems import (
    LIST_STEP,
    TOKEN_STEP,
    CheckProblem,
    diagnose,
    entity_mismatch,
)

ONE = "1a2b7a37-3e7d-4cb3-b0e2-883de9e766cc"
TWO = "c92ed977-510c-4c48-9b51-8d5e848671e9"


@pytest.mark.parametrize(
    ("entity_id", "entities"),
    [(None, ()), (None, (ONE,)), (ONE, (ONE, TWO)), (TWO.replace("-", "").upper(), (ONE, TWO))],
    ids=["no-scope", "single", "chosen", "hyphenless-upper-case"],
)
def test_entity_mismatch_is_none_when_the_scope_allows_the_choice(
    entity_id: str | None, entities: tuple[str, ...]
) -> None:
    assert entity_mismatch(entity_id, entities) is None


def test_entity_mismatch_names_the_offered_entities_when_the_choice_is_not_among_them() -> None:
    required = entity_mismatch(None, (ONE, TWO))
    refused = entity_mismatch("0b5f5c1e-8d1e-4a43-9a57-1d2d3c4b5a69", (ONE, TWO))

    assert required is not None and required.problem is CheckProblem.ENTITY_REQUIRED
    assert required.text.endswith(f"add --entity-id with one of: {ONE}, {TWO}")
    assert refused is not None and refused.problem is CheckProblem.ENTITY_REFUSED
    assert refused.text.endswith(f"use --entity-id with: {ONE}, {TWO}")


@pytest.mark.parametrize(
    ("error", "step", "entity_id", "problem", "text"),
    [
        (
            BadRequestError(
                "Zuora refused the request: Zuora-Entity-Ids header is required",
                status=400,
                request_id="r-1",
            ),
            LIST_STEP,
            None,
            CheckProblem.ENTITY_REQUIRED,
            "this tenant needs --entity-id (400 at GET /workflows, Zuora-Request-Id r-1)",
        ),
        (
            PermissionDeniedError("permission denied: Invalid Zuora-Entity-Ids", status=403),
            LIST_STEP,
            ONE,
            CheckProblem.ENTITY_REFUSED,
            f"Zuora refused entity {ONE} (403 at GET /workflows); check --entity-id",
        ),
        (
            NotFoundError("not found: no route", status=404),
            LIST_STEP,
            None,
            CheckProblem.NOT_FOUND,
            "Zuora has no Workflow API here (404 at GET /workflows); check the environment",
        ),
        (
            BadRequestError("Zuora refused the request: bad page", status=422),
            LIST_STEP,
            None,
            CheckProblem.REQUEST_REFUSED,
            "Zuora refused the request: bad page (422 at GET /workflows)",
        ),
        (
            RequestTimeoutError("no complete response within 20s (POST /oauth/token)"),
            TOKEN_STEP,
            None,
            CheckProblem.UNREACHABLE,
            "cannot reach rest.zuora.com (no complete response within 20s (POST /oauth/token))",
        ),
    ],
    ids=["400-entity", "403-entity", "404-list", "422-list", "timeout"],
)
def test_diagnose_names_the_problem_when_zuora_answers_an_error(
    error: ZuoraError, step: str, entity_id: str | None, problem: CheckProblem, text: str
) -> None:
    diagnosis = diagnose(error, step, "rest.zuora.com", entity_id)

    assert diagnosis.problem is problem
    assert diagnosis.step == step
    assert diagnosis.text.startswith(text), diagnosis.text
