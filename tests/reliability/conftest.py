"""Fixtures of the fault suite: the chaos suite's installations run by real processes
(`make_fleet`, `fleet`) and its private PostgreSQL and Redis servers, shared rather than copied."""

from __future__ import annotations

from tests.chaos.conftest import fleet, make_fleet, private_postgres, private_redis

__all__ = ["fleet", "make_fleet", "private_postgres", "private_redis"]
