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

import sys
from typing import Any

_HELD_OUT = ("redis", "psycopg")


def import_huey() -> Any:
    """Import `huey` (once per process), holding out the drivers not already imported."""
    if "huey" in sys.modules:
        return sys.modules["huey"]
    held = [name for name in _HELD_OUT if name not in sys.modules]
    for name in held:
        sys.modules[name] = None  # type: ignore[assignment]  # "import name" raises ImportError
    try:
        import huey
        import huey.storage  # the module whose imports are held out
    finally:
        for name in held:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
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
