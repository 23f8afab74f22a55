"""The optional drivers, installed by the package's extras: psycopg (`[postgres]`), redis-py and
hiredis (`[redis]`). They are imported only when a URL needs them; a missing one is a
ConfigurationError naming the extra to install, which the CLI prints as one line."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from zuora_workflow_sync.errors import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError


def __getattr__(name: str) -> type[Exception]:
    """`RedisError`, imported on first use (redis-py costs a CLI start ~70 ms otherwise)."""
    if name != "RedisError":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from redis.exceptions import RedisError
    except ImportError:

        class RedisError(Exception):  # type: ignore[no-redef]
            """Stands in for redis-py's root error when it is not installed: nothing raises it."""

    globals()["RedisError"] = RedisError
    return RedisError


__all__ = ["RedisError", "missing_extra", "redis_class", "require_drivers", "require_psycopg"]

_REDIS_SCHEMES = ("redis", "rediss")


def missing_extra(what: str, extra: str) -> ConfigurationError:
    """The error for a driver that is not installed, with the command that installs it."""
    return ConfigurationError(
        f"{what} support is not installed: pip install 'zuora-workflow-sync[{extra}]'"
    )


def require_psycopg() -> None:
    """Raise ConfigurationError naming the `[postgres]` extra unless psycopg imports."""
    try:
        importlib.import_module("psycopg")
    except ImportError:
        raise missing_extra("PostgreSQL", "postgres") from None


def redis_class() -> type[Redis]:
    """redis-py's asyncio client class; ConfigurationError naming `[redis]` when absent."""
    try:
        from redis.asyncio import Redis
    except ImportError:
        raise missing_extra("Redis", "redis") from None
    return Redis


def require_drivers(urls: Iterable[str]) -> None:
    """Fail before any work when one of `urls` (database, queue, coordination) needs a driver
    that is not installed, rather than inside a job."""
    for url in urls:
        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError:
            continue  # the URL's own parser reports it
        if scheme.startswith("postgresql"):
            require_psycopg()
        elif scheme in _REDIS_SCHEMES:
            redis_class()
