"""Import Huey without the database drivers it imports for storages this product never uses.

`huey.storage` imports redis-py and psycopg at module level, whether or not a process uses
Redis (psycopg only serves Huey's own PostgreSQL storage, which the queue does not use). On
the embedded default (a SQLite queue) that was ~0.1-0.2 s of CPU in every worker, scheduler
and `sync-workflows` start. `import_huey` imports Huey with each driver not yet loaded held
out, so Huey records it as absent; `lend_redis` gives Huey redis-py's names when a Redis queue
is opened. No Huey setting does this; the names it patches (`huey.storage.Redis`,
`ConnectionPool`, `ConnectionError`, `TimeoutError` and `RedisStorage.redis_client`) are pinned
by tests/queue/test_huey_drivers.py, which fails on a Huey that renames them.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

_HELD_OUT = ("redis", "psycopg")


class _HoldOut(importlib.abc.MetaPathFinder):
    """Refuses the held-out drivers to the one thread that is importing Huey, for that import
    only: another thread's `import redis` meanwhile is not affected (a `None` placeholder in
    `sys.modules` would be)."""

    def __init__(self, names: Sequence[str]) -> None:
        self._names = frozenset(names)
        self._thread = threading.get_ident()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in self._names and threading.get_ident() == self._thread:
            raise ModuleNotFoundError(f"{fullname} is held out of Huey's import", name=fullname)
        return None


def import_huey() -> Any:
    """Import `huey` (once per process), holding out the drivers not already imported."""
    if "huey" in sys.modules:
        return sys.modules["huey"]
    hold_out = _HoldOut([name for name in _HELD_OUT if name not in sys.modules])
    sys.meta_path.insert(0, hold_out)
    try:
        import huey
        import huey.storage  # the module whose imports are held out
    finally:
        sys.meta_path.remove(hold_out)
    return huey


def lend_redis() -> None:
    """Give Huey's Redis storage redis-py's names if Huey was imported without them.

    Raises ImportError when redis-py is not installed (the caller names the extra)."""
    import huey.storage as storage
    from redis import ConnectionPool, Redis
    from redis.exceptions import ConnectionError, TimeoutError

    if storage.Redis is not None:
        return
    storage.Redis = Redis
    storage.ConnectionPool = ConnectionPool
    storage.ConnectionError = ConnectionError
    storage.TimeoutError = TimeoutError
    if storage.RedisStorage.redis_client is None:
        storage.RedisStorage.redis_client = Redis
