"""The domain values the store relies on: content hashing and status enums."""

from __future__ import annotations

import hashlib

import pytest

from zuora_workflow_sync.domain.models import RunStatus, content_hash


def test_content_hash_ignores_key_order_when_documents_are_equal() -> None:
    assert content_hash({"b": 1, "a": {"y": 2, "x": "é"}}) == content_hash(
        {"a": {"x": "é", "y": 2}, "b": 1}
    )


def test_content_hash_is_sha256_of_compact_sorted_utf8_json_when_computed() -> None:
    expected = hashlib.sha256('{"a":"é","b":[1,2]}'.encode()).hexdigest()
    assert content_hash({"b": [1, 2], "a": "é"}) == expected


def test_content_hash_raises_when_document_holds_nan() -> None:
    with pytest.raises(ValueError):
        content_hash({"a": float("nan")})


def test_statuses_are_stored_as_their_values_when_compared_to_strings() -> None:
    assert RunStatus.QUEUED.value == "queued" and str(RunStatus.QUEUED) == "queued"
    assert RunStatus.RUNNING.is_active and not RunStatus.FAILED.is_active
