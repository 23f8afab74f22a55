"""The overview's chart of the last 24 hours: one stacked bar per hour, by run outcome, as the
numbers an SVG template draws (no JavaScript, no chart library: a few rectangles)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

OUTCOMES = ("succeeded", "failed", "abandoned")
BAR_WIDTH = 20
HEIGHT = 100


@dataclass(frozen=True)
class Bar:
    hour: str
    x: int
    segments: list[tuple[str, int, float, float]]  # outcome, count, y, height
    total: int


def hourly_bars(rows: list[dict[str, Any]], now: datetime) -> list[Bar]:
    """24 bars, oldest first, scaled to the busiest hour."""
    hours = [(now - timedelta(hours=23 - i)).strftime("%Y-%m-%d %H") for i in range(24)]
    counts = {(row["hour"], row["status"]): row["count"] for row in rows}
    totals = [sum(counts.get((hour, o), 0) for o in OUTCOMES) for hour in hours]
    scale = HEIGHT / max(1, *totals)
    bars = []
    for index, hour in enumerate(hours):
        y, segments = float(HEIGHT), []
        for outcome in OUTCOMES:
            count = counts.get((hour, outcome), 0)
            height = count * scale
            y -= height
            segments.append((outcome, count, y, height))
        bars.append(Bar(hour, index * (BAR_WIDTH + 4), segments, totals[index]))
    return bars
