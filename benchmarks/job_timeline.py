"""Where a job's time goes, from the events `timeline/sitecustomize.py` recorded in each worker.

Medians over the jobs that started after `since` (the timed passes), in milliseconds on the
monotonic clock every process shares. Used by `sync_throughput.py --timeline`.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

Event = tuple[float, str, float]


def _jobs(events: list[Event]) -> Iterator[list[Event]]:
    current: list[Event] | None = None
    for event in events:
        if event[1] == "job_start":
            current = [event]
        elif current is not None:
            current.append(event)
            if event[1] == "job_end":
                yield current
                current = None


def _first(job: list[Event], kind: str) -> float:
    return next(moment for moment, name, _ in job if name == kind)


def _spans(job: list[Event]) -> dict[str, float] | None:
    sends = [moment for moment, kind, _ in job if kind == "send"]
    receives = [moment for moment, kind, _ in job if kind == "receive"]
    if len(sends) < 2:
        return None  # not claimed, or nothing to export
    start, end = job[0][0], job[-1][0]
    claimed, pacing = _first(job, "claimed"), _first(job, "pacing_in")
    return {
        "start -> run claimed": claimed - start,
        "claimed -> first pacing step": pacing - claimed,
        "first pacing step and token -> listing sent": sends[0] - pacing,
        "listing request": receives[0] - sends[0],
        "listing received -> first export sent": sends[1] - receives[0],
        "exports (first sent -> last received)": max(receives) - sends[1],
        "last response -> job returns": end - max(receives),
        "whole job": end - start,
    }


def report(folder: Path, since: float) -> list[str]:
    """Lines of a table: each span's median and 90th percentile over the timed jobs."""
    spans: dict[str, list[float]] = {}
    pacing: list[float] = []
    between: list[float] = []
    for path in sorted(folder.glob("*.json")):
        events = [(float(t), str(k), float(v)) for t, k, v in json.loads(path.read_text())]
        jobs = [job for job in _jobs(events) if job[0][0] >= since]
        between += [later[0][0] - earlier[-1][0] for earlier, later in pairwise(jobs)]
        for job in jobs:
            pacing += [seconds for _, kind, seconds in job if kind == "pacing_out"]
            measured = _spans(job)
            for name, seconds in (measured or {}).items():
                spans.setdefault(name, []).append(seconds)
    spans["each pacing step (all requests)"] = pacing
    spans["job returns -> next job starts"] = between
    lines = [f"{'span':48} {'jobs':>5} {'median ms':>10} {'p90 ms':>8}"]
    for name, values in spans.items():
        if values:
            ordered = sorted(values)
            median = statistics.median(ordered) * 1000
            p90 = ordered[int(len(ordered) * 0.9)] * 1000
            lines.append(f"{name:48} {len(values):5d} {median:10.2f} {p90:8.2f}")
    return lines
