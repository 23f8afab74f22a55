"""Column types shared by the tables: aware UTC datetimes, JSON documents, wide ids.

They behave the same on SQLite and PostgreSQL so the rest of the store never branches on dialect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# JSONB on PostgreSQL (indexable, compact); JSON text on SQLite.
JSONDocument: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")

# 64-bit ids on PostgreSQL; SQLite only autoincrements a plain INTEGER primary key.
WideId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both dialects.

    PostgreSQL stores `timestamptz`; SQLite stores naive UTC text in one fixed format, so text
    comparison orders correctly. Naive datetimes are refused on the way in: their zone is a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given where an aware UTC datetime is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
