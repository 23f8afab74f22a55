"""The queue serializer: exact JSON round-trips of Huey's messages, and pickle refused unread."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest
from huey.registry import Message

from tests.queue.conftest import QueueFactory
from zuora_workflow_sync.queue.serializer import (
    MAX_PAYLOAD_BYTES,
    JsonSerializer,
    UnsafePayloadError,
)

SIDE_EFFECTS: list[str] = []


def _naive_utc(text: str) -> datetime:
    """Huey (utc=True) puts naive UTC datetimes in its messages."""
    return datetime.fromisoformat(text)


def _mark(text: str) -> None:
    SIDE_EFFECTS.append(text)


class _Exploit:
    """A pickle that calls `_mark` when loaded: what a hostile queue payload looks like."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_mark, ("pickle executed",))


def _message(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "id": "0b8c5f6e",
        "name": "zuora_workflow_sync.queue.app.sync_run",
        "eta": _naive_utc("2030-05-06T07:08:09.123456"),
        "retries": 0,
        "retry_delay": 0,
        "priority": None,
        "args": (42,),
        "kwargs": {},
        "on_complete": None,
        "on_error": None,
        "expires": None,
        "expires_resolved": datetime(2030, 5, 7, tzinfo=UTC),
        "timeout": None,
        "chord_config": None,
        "retry_backoff": 1.5,
    }
    fields.update(overrides)
    return Message(**fields)


def test_message_round_trips_exactly_when_it_has_datetimes_and_nested_messages() -> None:
    serializer = JsonSerializer()
    nested = _message(id="child", args=(7,), eta=None, kwargs={"note": ["a", (1, 2)]})
    original = _message(on_complete=nested, on_error=_message(id="err", args=()))

    restored = serializer.deserialize(serializer.serialize(original))

    assert restored == original
    assert type(restored) is Message and type(restored.on_complete) is Message
    assert type(restored.args) is tuple and type(restored.on_complete.kwargs["note"][1]) is tuple
    assert restored.eta == original.eta and restored.eta.tzinfo is None
    assert restored.expires_resolved.tzinfo is not None


def test_revoke_tuple_round_trips_when_it_holds_a_datetime() -> None:
    serializer = JsonSerializer()
    value = (_naive_utc("2031-01-02T03:04:05"), True)

    assert serializer.deserialize(serializer.serialize(value)) == value


def test_stored_payload_is_json_with_the_run_id_only_when_a_job_is_enqueued(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue("jobs")
    queue.enqueue(1234)

    (raw,) = queue.huey.storage.enqueued_items()
    document = json.loads(bytes(raw))

    assert document["format"] == "zws-queue/1"
    assert document["value"]["message"]["args"] == {"tuple": [1234]}
    assert document["value"]["message"]["kwargs"] == {"dict": {}}


def test_pickled_payload_is_refused_without_running_when_deserialized() -> None:
    payload = pickle.dumps(_Exploit())
    pickle.loads(payload)  # the payload is live: plain pickle runs it
    assert SIDE_EFFECTS == ["pickle executed"]
    SIDE_EFFECTS.clear()

    with pytest.raises(UnsafePayloadError, match="not JSON"):
        JsonSerializer().deserialize(payload)

    assert SIDE_EFFECTS == []


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a": 1}',
        b"[1, 2]",
        b'{"format": "other/1", "value": 1}',
        b'{"format": "zws-queue/1", "value": {"a": 1, "b": 2}}',
        b'{"format": "zws-queue/1", "value": {"object": {"py/reduce": 1}}}',
        b'{"format": "zws-queue/1", "value": {"message": {"evil": 1}}}',
        b'{"format": "zws-queue/1", "value": {"datetime": "yesterday"}}',
        b'{"format": "zws-queue/1", "value": {"tuple": "abc"}}',
        b"\xff\xfe",
    ],
)
def test_payload_is_refused_when_it_is_not_the_queue_format(payload: bytes) -> None:
    with pytest.raises(UnsafePayloadError):
        JsonSerializer().deserialize(payload)


def test_payload_is_refused_when_over_the_size_cap() -> None:
    payload = JsonSerializer().serialize("x" * MAX_PAYLOAD_BYTES)

    with pytest.raises(UnsafePayloadError, match="over the cap"):
        JsonSerializer().deserialize(payload)


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", {1: "int key"}, float("nan"), object()])
def test_serialize_refuses_when_value_has_no_json_form(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        JsonSerializer().serialize(value)
