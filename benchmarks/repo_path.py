"""Puts the repository on `sys.path`, so a benchmark run as `python benchmarks/NAME.py` reuses
the test suite's helpers (tests/chaos/servers.py, tests/polling.py) instead of copies of them."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
