"""The worker's malloc arena cap, observed in glibc's own report (malloc_stats(3))."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

import pytest

# Sixteen threads alive at once, as many as a worker's jobs, each allocating, then glibc's
# per-arena report on stderr ("Arena N:" per arena).
THREADS_ALLOCATE = """
import ctypes, ctypes.util, sys, threading
from zuora_workflow_sync.queue.memory import limit_malloc_arenas
applied = limit_malloc_arenas() if sys.argv[1] == "limit" else None
kept = []
together = threading.Barrier(16)  # alive at once: an exited thread's arena is reused
def job():
    kept.append(bytearray(256 * 1024))  # above pymalloc's sizes: glibc's malloc
    together.wait()
threads = [threading.Thread(target=job) for _ in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(applied)
ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()
"""

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
    reason="glibc's malloc only",
)


def arenas(mode: str, **env: str) -> tuple[str, int]:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run(
        [sys.executable, "-c", THREADS_ALLOCATE, mode],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr.count("Arena ")


def test_sixteen_job_threads_share_two_arenas_when_the_worker_caps_them() -> None:
    assert arenas("limit") == ("True", 2)


def test_threads_take_arenas_of_their_own_without_the_cap() -> None:
    applied, count = arenas("none")
    assert applied == "None" and count > 2


def test_malloc_arena_max_in_the_environment_wins_over_the_cap() -> None:
    assert arenas("limit", MALLOC_ARENA_MAX="1") == ("False", 1)
