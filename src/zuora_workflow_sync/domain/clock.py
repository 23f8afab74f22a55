"""Time as the code reads it, passed in where it matters, so a test can move it instead of
sleeping: wall-clock UTC for the times a run records, and a monotonic clock for durations.

Leases are not read from here: they are computed and compared on the database's clock
(`store.engine.db_now`), never a worker's.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for durations)."""
        ...


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()
