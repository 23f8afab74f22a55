"""Fewer glibc malloc arenas in a worker process: its job threads share two.

glibc gives each thread that contends for the heap an arena of its own, up to eight per core,
and memory freed into one arena is not reused by the others; a worker's 16 job threads each
hold a few documents at a time, so a worker's peak resident set grows with its thread count.
Python's own allocator serialises most allocations under the GIL anyway: the workers' CPU per
request was no higher with two (docs/performance.md, "Worker memory"). `MALLOC_ARENA_MAX` in
the environment, which glibc reads at start, wins: this only applies when it is unset. No
library wraps `mallopt(3)`; ctypes is the whole of it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

ARENAS = 2
_M_ARENA_MAX = -8  # malloc.h


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap the process's malloc arenas at `arenas`; False where that is not glibc's malloc
    or where MALLOC_ARENA_MAX already decided."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied: bool = mallopt(_M_ARENA_MAX, arenas) == 1
    if not applied:
        logger.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return applied
