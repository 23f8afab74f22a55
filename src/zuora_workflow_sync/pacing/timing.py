"""When a waiting request tries again: jittered polls, and full-jitter resumes after a pause.

Zuora's advice (zuora-api.md 5.3) is never to synchronise retries: every waiter resumes at the
end of a pause or quota window plus its own uniform share of a spread, never at the same instant.
"""

from __future__ import annotations

import random

POLL_MIN_SECONDS = 0.010  # waiters of other processes learn of a free slot by polling ...
POLL_MAX_SECONDS = 0.040  # ... at a jittered interval, so they do not poll in step
IDLE_RECHECK_SECONDS = 1.0  # waiters behind the first one only re-check this rarely
# A released slot stays with its process this long: the next local request renews it in one
# store step instead of two (release, acquire), which halves the store's share of each request.
LINGER_SECONDS = 0.010
SPREAD_FRACTION = 0.25  # resumes spread over a quarter of the wait ...
MIN_SPREAD_SECONDS = 0.5  # ... but at least half a second ...
MAX_SPREAD_SECONDS = 15.0  # ... and at most fifteen


def poll_delay(rng: random.Random) -> float:
    """How long the first waiter of a busy tenant waits before asking the store again."""
    return rng.uniform(POLL_MIN_SECONDS, POLL_MAX_SECONDS)


def resume_spread(wait_seconds: float) -> float:
    """The width of the window over which waiters resume after a known wait."""
    return min(MAX_SPREAD_SECONDS, max(MIN_SPREAD_SECONDS, SPREAD_FRACTION * wait_seconds))


def resume_delay(wait_seconds: float, rng: random.Random) -> float:
    """Sleep for a known wait (pause, quota window): its end plus a uniform share of the spread."""
    wait = max(0.0, wait_seconds)
    return wait + rng.uniform(0.0, resume_spread(wait))
