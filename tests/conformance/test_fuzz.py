"""Property-based conformance: schemathesis generates requests for the six served operations from
the (patched) Swagger slices, sends them to the live simulator over 127.0.0.1, and checks each
answer: no server error, status code documented, content type documented, body and headers valid
against the documented schema, plus the strict header facts of `strict.py`.

Driven through schemathesis's Python API (`APIOperation.as_strategy` under Hypothesis's `@given`):
its pytest lazy-fixture integration (`schemathesis.pytest.from_fixture`) sets `Node._nodeid`, which
the pinned pytest 9.2 no longer has. Bounded (`MAX_EXAMPLES` per operation and mode) and
deterministic (derandomized, no example database).
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
from schemathesis import BaseSchema, Case, GenerationMode

from tests.conformance.specs import DATA_PATHS, TOKEN_PATH
from tests.conformance.strict import CHECKS, assert_zuora_headers

MAX_EXAMPLES = 30
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def _run(
    schema: BaseSchema, method: str, path: str, mode: GenerationMode, token: str | None
) -> int:
    """Send `MAX_EXAMPLES` generated requests; returns how many answered 2xx."""
    operation = schema[path][method]
    successes = 0

    # derandomize: the same examples on every run; database=None: no .hypothesis/ replays or
    # files; deadline=None: an example is an HTTP round trip, its duration is not the subject.
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[hypothesis.HealthCheck.too_slow],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def send(case: Case[Any]) -> None:
        nonlocal successes
        if token is not None:
            case.headers["Authorization"] = f"Bearer {token}"
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        assert_zuora_headers(response)
        successes += 200 <= response.status_code < 300

    send()
    return successes


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
@pytest.mark.parametrize("path", DATA_PATHS)
def test_workflow_get_conforms_to_the_spec_when_fuzzed_with_a_valid_token(
    data_schema: BaseSchema, token: str, path: str, mode: GenerationMode
) -> None:
    successes = _run(data_schema, "GET", path, mode, token)
    if mode is GenerationMode.POSITIVE:
        assert successes > 0, "no generated request reached a 200: steer generation better"


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
def test_token_endpoint_conforms_to_the_spec_when_fuzzed(
    token_schema: BaseSchema, mode: GenerationMode
) -> None:
    successes = _run(token_schema, "POST", TOKEN_PATH, mode, None)
    if mode is GenerationMode.POSITIVE:
        assert successes > 0, "no generated request got a token: steer generation better"
