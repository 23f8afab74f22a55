"""The JSON serializer of every queue: job messages carry ids only, and pickle is never used.

Huey hands over `huey.registry.Message` tuples and a few small values (revoke tuples); they
round-trip exactly, and anything that is not this JSON format is refused, never executed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from huey.registry import Message

FORMAT = "zws-queue/1"
MAX_PAYLOAD_BYTES = 64 * 1024

_MESSAGE = "message"
_TUPLE = "tuple"
_DICT = "dict"
_DATETIME = "datetime"


class UnsafePayloadError(ValueError):
    """A queue payload that is not this serializer's JSON (a pickle, say): refused unread."""


class JsonSerializer:
    """Huey's serializer seam (`serialize`/`deserialize`) writing tagged JSON, never pickle.

    Tuples, datetimes, dicts and nested `Message`s are tagged objects, so what comes back is
    equal to what went in; values of any other type are refused when serializing.
    """

    def serialize(self, data: object) -> bytes:
        return self._serialize(data)

    def deserialize(self, data: bytes | bytearray | memoryview | str) -> Any:
        return self._deserialize(data)

    def _serialize(self, data: object) -> bytes:
        document = {"format": FORMAT, "value": _encode(data)}
        return json.dumps(document, separators=(",", ":"), allow_nan=False).encode("utf-8")

    def _deserialize(self, data: bytes | bytearray | memoryview | str) -> Any:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise UnsafePayloadError(f"queue payload of {len(raw)} bytes is over the cap")
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise UnsafePayloadError("queue payload is not JSON (a pickle?): refused") from None
        if not isinstance(document, dict) or document.keys() != {"format", "value"}:
            raise UnsafePayloadError("queue payload is not a zws-queue document: refused")
        if document["format"] != FORMAT:
            raise UnsafePayloadError(f"queue payload format {document['format']!r} unknown")
        try:
            return _decode(document["value"])
        except RecursionError:
            raise UnsafePayloadError("queue payload is nested too deeply") from None


def _encode(value: object) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Message):
        return {_MESSAGE: {field: _encode(item) for field, item in value._asdict().items()}}
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(item) for item in value]}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {_DICT: {_key(key): _encode(item) for key, item in value.items()}}
    raise TypeError(f"a queue payload cannot hold a {type(value).__name__}")


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a queue payload's dict keys must be str, not {type(key).__name__}")
    return key


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise UnsafePayloadError("queue payload holds an untagged object")
    ((tag, body),) = value.items()
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise UnsafePayloadError(f"queue payload holds an unknown tag {tag!r}")
    return decoder(body)


def _decode_message(body: Any) -> Message:
    fields = _expect(body, dict, _MESSAGE)
    unknown = set(fields) - set(Message._fields)
    if unknown:
        raise UnsafePayloadError(f"queue message has unknown fields {sorted(unknown)}")
    return Message(**{name: _decode(item) for name, item in fields.items()})


def _decode_tuple(body: Any) -> tuple[Any, ...]:
    return tuple(_decode(item) for item in _expect(body, list, _TUPLE))


def _decode_dict(body: Any) -> dict[str, Any]:
    return {key: _decode(item) for key, item in _expect(body, dict, _DICT).items()}


def _decode_datetime(body: Any) -> datetime:
    try:
        return datetime.fromisoformat(_expect(body, str, _DATETIME))
    except ValueError:
        raise UnsafePayloadError("queue payload holds an invalid datetime") from None


def _expect(body: Any, kind: type[Any], tag: str) -> Any:
    if not isinstance(body, kind):
        raise UnsafePayloadError(f"queue payload's {tag!r} is not a {kind.__name__}")
    return body


_DECODERS: dict[str, Callable[[Any], Any]] = {
    _MESSAGE: _decode_message,
    _TUPLE: _decode_tuple,
    _DICT: _decode_dict,
    _DATETIME: _decode_datetime,
}
