"""Simulated time: the real clock plus an offset that the admin API can advance.

Token expiry and rate-limit windows read this clock, so tests can jump an hour ahead.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the simulator needs from a clock (injectable in tests)."""

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    def advance(self, seconds: float) -> None: ...

    def reset(self) -> None: ...

    @property
    def offset_seconds(self) -> float: ...


class SimClock:
    """Real monotonic and wall time, shifted by an offset that only grows."""

    def __init__(self) -> None:
        self._offset_seconds = 0.0

    @property
    def offset_seconds(self) -> float:
        return self._offset_seconds

    def monotonic(self) -> float:
        return time.monotonic() + self._offset_seconds

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset_seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self._offset_seconds += seconds

    def reset(self) -> None:
        self._offset_seconds = 0.0


def iso_millis(moment: datetime) -> str:
    """Zuora's definition timestamp format, e.g. `2019-05-31T14:52:38.171Z`."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )
