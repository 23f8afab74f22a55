"""The suite's long poles first, one per test process.

pytest-randomly shuffles the collection and pytest-xdist's `worksteal` hands each process a
contiguous slice of it; a test that waits for minutes at the default settings (`long`, e.g.
the 2,000-workflow sync at the default lease: ~170 s) then often starts late and the whole run
waits for it alone. Here the `long` tests, longest first (`@pytest.mark.long(SECONDS)`, the
seconds a clean-clone run measured), are dealt round the heads of the processes' slices (the
slices xdist cuts: `len // processes_left` in turn), the rest keeping pytest-randomly's order.
Which tests run is unchanged; only when.
"""

from __future__ import annotations

import pytest


def spread_long_tests(items: list[pytest.Item], processes: int) -> list[pytest.Item]:
    """`items` reordered so that slice k of `processes` (as xdist cuts them) starts with the
    `long` tests k, k + processes, ...; the same items, each once."""
    long = sorted(
        (item for item in items if item.get_closest_marker("long") is not None),
        key=_seconds,
        reverse=True,
    )
    if processes < 2 or not long:
        return list(items)
    rest = [item for item in items if item.get_closest_marker("long") is None]
    arranged: list[pytest.Item] = []
    left = len(items)
    for slot in range(processes):
        size = left // (processes - slot)
        heads = long[slot::processes]
        take = max(size - len(heads), 0) if slot < processes - 1 else len(rest)
        arranged += heads + rest[:take]
        rest = rest[take:]
        left -= len(heads) + take
    return arranged


def _seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("long")
    return float(marker.args[0]) if marker is not None and marker.args else 20.0


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workerinput = getattr(config, "workerinput", None)
    processes = int(workerinput["workercount"]) if workerinput else 1
    items[:] = spread_long_tests(items, processes)
