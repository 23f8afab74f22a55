"""Named points where a job can be held still, for the fault suite (off unless asked for).

`ZWS_TEST_PAUSE_AT=<point>` makes every job of the process that reaches `<point>` log
`paused at <point>` (WARNING, with the run id) and then sleep until the process is killed, so a
test can `kill -9` a worker at an exact place of a sync. Unset (always, in production) a pause
point costs one dictionary look-up. The points, in the order a sync reaches them:

- `before_commit`: Zuora has been read in full, nothing of it is stored yet (fault F1);
- `after_commit`: the run's fenced transaction is committed, the job has not returned to the
  queue yet (fault F2).
"""

from __future__ import annotations

import logging
import os
import time

logger = logging.getLogger(__name__)

PAUSE_AT_VARIABLE = "ZWS_TEST_PAUSE_AT"
POINTS = ("before_commit", "after_commit")
_SLEEP_SECONDS = 3600.0


def pause_point(point: str, run_id: int) -> None:
    """Hold the calling thread at `point` for good when ZWS_TEST_PAUSE_AT names it."""
    if os.environ.get(PAUSE_AT_VARIABLE) != point:
        return
    logger.warning("run %s paused at %s", run_id, point, extra={"run_id": run_id})
    while True:  # until the test kills the process
        time.sleep(_SLEEP_SECONDS)
