"""Pure parsing of Zuora payloads and headers: timestamps, models, rate-limit headers, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zuora_workflow_sync.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    ServerError,
)
from zuora_workflow_sync.zuora.models import (
    AccessToken,
    WorkflowDefinition,
    parse_zuora_timestamp,
)
from zuora_workflow_sync.zuora.ratelimit import (
    parse_concurrency,
    parse_rate_limit,
    parse_retry_after,
    retry_after_from,
)
from zuora_workflow_sync.zuora.responses import error_for_status, parse_json, safe_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-05-31T14:52:38.171Z", datetime(2019, 5, 31, 14, 52, 38, 171000, tzinfo=UTC)),
        ("2019-09-10 19:32:21 UTC", datetime(2019, 9, 10, 19, 32, 21, tzinfo=UTC)),
        ("2019-09-10 19:32:21", datetime(2019, 9, 10, 19, 32, 21, tzinfo=UTC)),
        ("2019-09-10T21:32:21+02:00", datetime(2019, 9, 10, 19, 32, 21, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_timestamp_is_aware_utc_when_in_any_zuora_format(
    text: str | None, expected: datetime | None
) -> None:
    assert parse_zuora_timestamp(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2019-13-45 99:00:00", "31/05/2019", "1559314358"])
def test_timestamp_is_refused_when_not_a_zuora_format(text: str) -> None:
    with pytest.raises(ValueError):
        parse_zuora_timestamp(text)


def test_definition_keeps_known_fields_when_payload_has_unknown_ones() -> None:
    item = WorkflowDefinition.model_validate(
        {
            "id": 48,
            "name": "New test workflow",
            "calloutTrigger": True,
            "updatedAt": "2019-06-03T21:02:26.694Z",
            "active_version": {"id": 49, "version": "0.0.1", "brandNew": 1},
            "latest_inactive_verisons": [{"id": 50, "version": "0.0.2"}],
            "somethingZuoraAddedLater": {"x": 1},
        }
    )
    assert item.callout_trigger is True
    assert item.active_version is not None and item.active_version.id == 49
    assert [v.version for v in item.latest_inactive_versions] == ["0.0.2"]
    assert item.updated_at == datetime(2019, 6, 3, 21, 2, 26, 694000, tzinfo=UTC)


def test_rate_limit_headers_parse_when_in_zuora_format() -> None:
    info = parse_rate_limit(
        {
            "ratelimit-limit": "2250000, 50000;w=60, 2250000;w=3600, 27000000;w=86400",
            "ratelimit-remaining": "49990",
            "ratelimit-reset": "42",
        }
    )
    assert info is not None
    assert (info.limit, info.remaining, info.reset_seconds) == (2250000, 49990, 42.0)
    assert [(p.quota, p.window_seconds) for p in info.policies] == [
        (50000, 60),
        (2250000, 3600),
        (27000000, 86400),
    ]
    assert parse_rate_limit({}) is None


def test_concurrency_headers_parse_when_present() -> None:
    info = parse_concurrency(
        {
            "concurrency-limit-type": "Default",
            "concurrency-limit-limit": "40",
            "concurrency-limit-remaining": "38",
        }
    )
    assert info is not None and (info.limit_type, info.limit, info.remaining) == ("Default", 40, 38)
    assert parse_concurrency({"ratelimit-limit": "1"}) is None


def test_retry_after_prefers_header_then_exhausted_window() -> None:
    assert retry_after_from({"retry-after": "120", "ratelimit-reset": "5"}) == 120.0
    assert retry_after_from({"ratelimit-remaining": "0", "ratelimit-reset": "17"}) == 17.0
    assert retry_after_from({"ratelimit-remaining": "10", "ratelimit-reset": "17"}) is None
    when = datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:30 GMT", now=when) == 30.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None


@pytest.mark.parametrize(
    ("status", "body", "error_type", "text"),
    [
        (401, b'{"message":"Authentication error"}', AuthenticationError, "Authentication error"),
        (
            403,
            b'{"code":50000010,"message":"No Workflow View Access"}',
            PermissionDeniedError,
            "No Workflow View Access (code 50000010)",
        ),
        (
            404,
            b'{"errors":["Invalid ID / Multiple objects returned - SchemaId: 2"]}',
            NotFoundError,
            "Invalid ID",
        ),
        (
            400,
            b'{"errors":[{"status":400,"code":"invalid",'
            b'"title":"The input of version \'x\' is invalid."}]}',
            BadRequestError,
            "The input of version 'x' is invalid.",
        ),
        (
            422,
            b'{"success":false,"reasons":[{"fieldName":"status","title":"bad status"}]}',
            BadRequestError,
            "bad status",
        ),
        (502, b"<html><body>Bad Gateway</body></html>", ServerError, "non-JSON error body"),
        (
            429,
            b'{"reasons":[{"code":70,"message":"API Rate limit exceeded for the minute"}]}',
            RateLimitedError,
            "API Rate limit exceeded",
        ),
        (500, b"", ServerError, "empty error body"),
    ],
)
def test_error_body_maps_to_family_when_status_is(
    status: int, body: bytes, error_type: type[Exception], text: str
) -> None:
    error = error_for_status(status, {"zuora-request-id": "rid-1"}, body)
    assert type(error) is error_type
    assert text in str(error)
    assert "rid-1" in str(error)


def test_token_call_errors_are_authentication_errors_when_4xx() -> None:
    error = error_for_status(400, {}, b'{"code":1,"message":"bad grant"}', token_call=True)
    assert isinstance(error, AuthenticationError)
    assert isinstance(error_for_status(429, {}, b"", token_call=True), RateLimitedError)


def test_rate_limited_error_carries_retry_after_when_header_present() -> None:
    error = error_for_status(429, {"retry-after": "120"}, b"")
    assert isinstance(error, RateLimitedError) and error.retry_after_seconds == 120.0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": 1, "a": 2}', "duplicate JSON key"),
        (b'{"a":1,"a":2}', "duplicate JSON key"),
        (b'{"a" :1,"a":2}', "duplicate JSON key"),
        (b'{"a":{"b":1,"b":2}}', "duplicate JSON key"),
        (b'[{"a":1},{"b":{"c":[{"d":1,"d":1}]}}]', "duplicate JSON key"),
        # A string holding `":` makes up for the key given twice in a count of `":`.
        (b'{"a":"x\\":","a":1}', "duplicate JSON key"),
        (b'{"x":":","x":2}', "duplicate JSON key"),
        # Escaped quotes before a colon are not keys; an escaped backslash before one is.
        (b'{"a":"\\\\\\":","a":1}', "duplicate JSON key"),
        (b'{"a\\\\":1,"a\\\\":2}', "duplicate JSON key"),
        (b'{"p":"{\\"k\\":1}","q":{"r":"\\":","r":2}}', "duplicate JSON key"),
        (b'{"a": "x\\u0000y"}', "NUL"),
        (b'{"x\\u0000": 1}', "NUL"),
        (b'[{"a": ["x\\u0000"]}]', "NUL"),
        (b'{"a": "x\\ud800y"}', "unpaired surrogate"),
        (b'{"\\uDC00": 1}', "unpaired surrogate"),
        (b'{"a": ["\\ude00\\ud83d"]}', "unpaired surrogate"),
        (b'{"a": "x\x00y"}', "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nesting too deep"),
        (b'{"a": 1', "not valid JSON"),
        (b"<html>oops</html>", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_json_is_refused_when_malformed(body: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_json(body, status=200, request_id=None)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":"x\\":y","b":1}',
        b'[{"a":1},{"a":1}]',
        b'{"a" : {"a" : 1}}',
        b'{"":":"}',
        b"[]",
        b'{"p":"{\\"k\\":1,\\"k2\\":\\"v\\"}","a\\\\":"\\\\\\":"}',
    ],
)
def test_json_is_parsed_when_keys_repeat_only_across_objects_or_inside_strings(
    body: bytes,
) -> None:
    assert parse_json(body, status=200, request_id=None) == json.loads(body)


def test_a_surrogate_pair_escape_is_one_character_when_parsed() -> None:
    parsed = parse_json(b'{"a": "\\ud83d\\ude00 caf\\u00e9"}', status=200, request_id=None)
    assert parsed == {"a": "\U0001f600 café"}


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul() -> None:
    assert parse_json(b'{"a": "\\\\u0000"}', status=200, request_id=None) == {"a": "\\u0000"}


def test_remote_text_loses_line_breaks_when_made_safe() -> None:
    assert safe_text("line1\r\nFAKE LOG LINE\x1b[31m") == "line1 FAKE LOG LINE [31m"
    assert len(safe_text("x" * 10_000)) == 300


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (
            # zuora-api.md 1.1, the documented example
            "user.7c4d5433dc234c369a01b9719ecd059f entity.1a2b7a37-3e7d-4cb3-b0e2-883de9e766cc "
            "entity.c92ed977-510c-4c48-9b51-8d5e848671e9 service.echo.read tenant.19",
            ("1a2b7a37-3e7d-4cb3-b0e2-883de9e766cc", "c92ed977-510c-4c48-9b51-8d5e848671e9"),
        ),
        ("user.1 tenant.19", ()),
        (None, ()),
        ("entity. entity.\x1b[31mx entity.ok-1", ("ok-1",)),
    ],
)
def test_token_entity_ids_are_the_entity_scopes_when_parsed(
    scope: str | None, expected: tuple[str, ...]
) -> None:
    token = AccessToken.model_validate({"access_token": "t", "expires_in": 3599, "scope": scope})

    assert token.entity_ids == expected


def _pairs_checked(pairs: list[tuple[str, object]]) -> dict[str, object]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate")
    return dict(pairs)


# Keys and strings full of what the duplicate check counts: quotes, backslashes and colons.
_TRICKY = st.text(alphabet='ab":\\{}', max_size=6)
_VALUES = st.recursive(
    st.none() | st.integers(-5, 5) | _TRICKY,
    lambda inner: (
        st.lists(inner, max_size=3) | st.lists(st.tuples(_TRICKY, inner), max_size=4)
    ),  # an object's pairs, keys may repeat
    max_leaves=12,
)


def _render(value: object) -> str:
    """Compact JSON text; a list of pairs is an object that may give a key twice."""
    if isinstance(value, list) and value and all(isinstance(item, tuple) for item in value):
        return "{" + ",".join(json.dumps(k) + ":" + _render(v) for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_render(item) for item in value) + "]"
    return json.dumps(value)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_a_key_given_twice_is_refused_exactly_when_the_checked_parse_finds_it(
    value: object,
) -> None:
    text = _render(value)
    try:
        expected = json.loads(text, object_pairs_hook=_pairs_checked)
    except ValueError:
        with pytest.raises(ProtocolError, match="duplicate JSON key"):
            parse_json(text.encode(), status=200, request_id=None)
    else:
        assert parse_json(text.encode(), status=200, request_id=None) == expected


def test_a_long_run_of_backslashes_is_checked_object_by_object_and_quickly() -> None:
    run = "\\\\" * 200_000  # an escaped backslash, 200,000 times: a key ending in them
    body = ('{"' + run + '":1,"' + run + '":2}').encode()
    with pytest.raises(ProtocolError, match="duplicate JSON key"):
        parse_json(body, status=200, request_id=None)
    single = ('{"' + run + '":1,"b":"\\\\\\":"}').encode()
    assert parse_json(single, status=200, request_id=None) == json.loads(single)
