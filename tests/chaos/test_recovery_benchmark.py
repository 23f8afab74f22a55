"""`benchmarks/recovery.py` still measures: its cheapest scenario, a worker killed mid-sync."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import service_missing

pytestmark = [pytest.mark.end_to_end, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "recovery.py"
FIGURE = re.compile(r"^worker #1: lease expired (\S+) s, run succeeded (\S+) s", re.MULTILINE)


@pytest.mark.long(45)
@pytest.mark.timeout(200)
def test_recovery_benchmark_prints_a_finite_time_when_a_worker_is_killed() -> None:
    if shutil.which("redis-server") is None:
        service_missing("redis-server not found on PATH")
    if shutil.which("pg_ctl") is None and not list(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")
    ):
        service_missing("pg_ctl not found (PATH or /usr/lib/postgresql/*/bin)")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--scenarios", "worker", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=190,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    found = FIGURE.search(done.stdout)
    assert found is not None, done.stdout
    expired, succeeded = (float(value) for value in found.groups())
    # At the defaults: the lease left at the kill (at most 30 s) + the reaper interval (10 s)
    # + the sync (well under 30 s).
    assert math.isfinite(succeeded) and 0 < expired <= succeeded < 30 + 10 + 30
    assert "| kill -9 of a worker mid-sync |" in done.stdout
