"""tests/scheduling.py: the long tests head the slices pytest-xdist's worksteal hands out."""

from __future__ import annotations

from typing import Any, cast

import pytest

from tests.scheduling import spread_long_tests


class Item:
    """What spread_long_tests reads of a pytest.Item: its `long` marker."""

    def __init__(self, name: str, seconds: float | None = None) -> None:
        self.name = name
        self.marker = None if seconds is None else pytest.mark.long(seconds).mark

    def get_closest_marker(self, name: str) -> Any:
        return self.marker if name == "long" else None

    def __repr__(self) -> str:
        return self.name


def slices(items: list[Any], processes: int) -> list[list[Any]]:
    """The contiguous slices worksteal sends at the start: len(pending) // nodes_left each."""
    cut, pending = [], list(items)
    for left in range(processes, 0, -1):
        size = len(pending) // left
        cut.append(pending[:size])
        pending = pending[size:]
    return cut


@pytest.mark.parametrize(("count", "processes"), [(100, 4), (101, 4), (37, 3), (9, 4)])
def test_each_slice_starts_with_long_tests_longest_first(count: int, processes: int) -> None:
    seconds = [170, 45, 35, 33, 32, 25]
    items = [Item(f"t{n}") for n in range(count)]
    for n, value in enumerate(seconds):  # scattered, as pytest-randomly leaves them
        items[(n * 7 + 3) % count] = Item(f"long{value}", value)

    arranged = spread_long_tests(cast(list[pytest.Item], items), processes)

    assert sorted(map(repr, arranged)) == sorted(map(repr, items))
    heads = [chunk[0] for chunk in slices(arranged, processes)]
    assert [repr(head) for head in heads] == [f"long{s}" for s in seconds[:processes]]


def test_one_process_keeps_the_order() -> None:
    items = [Item("a"), Item("b", 100), Item("c")]
    arranged = spread_long_tests(cast(list[pytest.Item], items), 1)
    assert [repr(item) for item in arranged] == ["a", "b", "c"]
