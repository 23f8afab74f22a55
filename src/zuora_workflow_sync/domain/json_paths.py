"""Differences between two JSON values, each named by its path (`parameters.headers[0].value`).

Objects are compared key by key, arrays index by index; a key or index on one side only is a
change from or to `ABSENT`. `True` and `1` differ, as they do in JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Absent:
    """The value of a key or index that one side does not have."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Final = _Absent()


@dataclass(frozen=True, slots=True)
class ValueChange:
    """`path` changed from `old` to `new`; either may be ABSENT."""

    path: str
    old: Any
    new: Any


def value_changes(old: Any, new: Any, path: str = "") -> Iterator[ValueChange]:
    """Every leaf difference between `old` and `new`, in key then index order."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            yield from value_changes(
                old.get(key, ABSENT), new.get(key, ABSENT), join_key(path, str(key))
            )
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            yield from value_changes(
                old[index] if index < len(old) else ABSENT,
                new[index] if index < len(new) else ABSENT,
                f"{path}[{index}]",
            )
    elif type(old) is not type(new) or old != new:
        yield ValueChange(path, old, new)


def join_key(path: str, key: str) -> str:
    """`path.key`, or `path["odd key"]` when the key is not an identifier."""
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"
