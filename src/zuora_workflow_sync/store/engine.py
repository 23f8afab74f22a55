"""Engines for SQLite and PostgreSQL, transactions, and the database clock.

SQLite: WAL, a busy timeout, foreign keys on, and write transactions opened with BEGIN IMMEDIATE
so concurrent writers queue on the busy timeout instead of failing with "database is locked";
an engine's first write transaction runs the integrity check first (`store.integrity`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnExpressionArgument,
    Connection,
    Engine,
    Float,
    create_engine,
    event,
    extract,
    func,
    literal,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement, literal_column

from zuora_workflow_sync.drivers import require_psycopg
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store.integrity import SqliteWriteGuard
from zuora_workflow_sync.store.types import UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

READ_ONLY_OPTION = "zws_read_only"
_SQLITE_NOW_FORMAT = "%Y-%m-%d %H:%M:%f"


def create_engine_for(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 5,
    pool_timeout_seconds: float = 30.0,
    busy_timeout_seconds: float = 30.0,
) -> Engine:
    """An engine for a `sqlite:///path` or `postgresql+psycopg://...` URL; the caller disposes it.

    Raises ConfigurationError for a malformed or unsupported URL (the message never shows it:
    it may hold a password).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError("the database URL is malformed") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _create_sqlite_engine(parsed, busy_timeout_seconds)
    if backend == "postgresql":
        return _create_postgresql_engine(parsed, pool_size, max_overflow, pool_timeout_seconds)
    raise ConfigurationError(f"unsupported database {backend!r}: use sqlite or postgresql")


def _create_sqlite_engine(url: URL, busy_timeout_seconds: float) -> Engine:
    if url.drivername not in ("sqlite", "sqlite+pysqlite"):
        raise ConfigurationError("SQLite is supported through the standard sqlite3 driver only")
    in_memory = url.database in (None, "", ":memory:")
    if not in_memory and url.database is not None:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # JSON as UTF-8 text, not \\u escapes: the trigram search (store.search) reads the stored
    # text, so "fällig" must be stored as itself. Lone surrogates never get this far (the
    # client refuses them, as PostgreSQL would).
    engine = create_engine(
        url,
        connect_args={"timeout": busy_timeout_seconds},
        json_serializer=partial(json.dumps, ensure_ascii=False),
    )
    _install_sqlite_hooks(engine, busy_timeout_seconds, use_wal=not in_memory)
    return engine


def _install_sqlite_hooks(engine: Engine, busy_timeout_seconds: float, *, use_wal: bool) -> None:
    busy_timeout_ms = int(busy_timeout_seconds * 1000)
    guard = SqliteWriteGuard()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The documented recipe: stop pysqlite from issuing its own (deferred) BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # PRAGMAs take no bound parameters; the value is an int computed above.
            cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
            cursor.execute("PRAGMA foreign_keys = ON")
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if use_wal and str(mode).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            if use_wal:
                # SQLite's recommended pairing with WAL: a commit no longer waits for an fsync
                # (checkpoints still do). The database cannot be corrupted; an OS crash or power
                # loss may roll back the last commits, which the ledger repairs: a finished run
                # reverts to running and is reclaimed, a lost dispatch is a queued job whose
                # claim finds no run (a no-op).
                cursor.execute("PRAGMA synchronous = NORMAL")
            # 8 MB of page cache (SQLite's default is 2 MB, Huey's 8): a 5,000-run dispatch
            # batch touches five indexes; a tenth of a 100,000-customer dispatch was re-reading
            # evicted pages. The cache fills only as far as the database needs.
            cursor.execute("PRAGMA cache_size = -8000")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that later writes cannot wait for the lock (SQLITE_BUSY at
        # once); IMMEDIATE takes the write lock up front, honouring the busy timeout.
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        if not read_only:
            guard.before_write(conn.connection.dbapi_connection)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def _create_postgresql_engine(
    url: URL, pool_size: int, max_overflow: int, pool_timeout_seconds: float
) -> Engine:
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername != "postgresql+psycopg":
        raise ConfigurationError("PostgreSQL is supported through psycopg 3 only")
    require_psycopg()
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_seconds,
        pool_recycle=1800,
        connect_args={"connect_timeout": 10, "application_name": "zuora-workflow-sync"},
    )


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A short read-only transaction (a deferred BEGIN on SQLite, so it never takes the lock)."""
    with engine.connect() as conn:
        conn.execution_options(**{READ_ONLY_OPTION: True})
        with conn.begin():
            yield conn


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back on any exception."""
    with engine.begin() as conn:
        yield conn


def insert_ignoring_conflicts(
    conn: Connection, table: type[Any]
) -> sqlite.Insert | postgresql.Insert:
    """INSERT ... ON CONFLICT DO NOTHING for this connection's dialect.

    Without a conflict target both dialects skip rows that violate any unique constraint or
    unique index, partial ones included.
    """
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing()


class _DbNow(FunctionElement[datetime]):
    type = UTCDateTime()
    inherit_cache = True
    name = "db_now"


class _DbSecondsSince(FunctionElement[float]):
    type = Float()
    inherit_cache = True
    name = "db_seconds_since"


def db_now(offset_seconds: float = 0.0) -> ColumnElement[datetime]:
    """The database's current UTC time plus `offset_seconds`, as a SQL expression.

    Leases are computed and compared with this clock only, never a worker's (reliability F20).
    """
    return _DbNow(literal(float(offset_seconds), Float()))


def db_seconds_since(moment: ColumnExpressionArgument[datetime | None]) -> ColumnElement[float]:
    """Seconds from `moment` (a column) to the database's current time, as a SQL expression."""
    return _DbSecondsSince(moment)


@compiles(_DbNow, "sqlite")
def _compile_now_sqlite(element: _DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    (offset,) = element.clauses
    # strftime's %f is SS.SSS; padding to microseconds matches how UTCDateTime stores values,
    # so comparisons of the text are correct.
    moment = func.strftime(_SQLITE_NOW_FORMAT, "now", func.printf("%+.3f seconds", offset))
    return compiler.process(moment.concat("000"), **kw)


@compiles(_DbNow, "postgresql")
def _compile_now_postgresql(element: _DbNow, compiler: SQLCompiler, **kw: Any) -> str:
    (offset,) = element.clauses
    moment = func.statement_timestamp() + offset * literal_column("INTERVAL '1 second'")
    return compiler.process(moment, **kw)


@compiles(_DbSecondsSince, "sqlite")
def _compile_since_sqlite(element: _DbSecondsSince, compiler: SQLCompiler, **kw: Any) -> str:
    (moment,) = element.clauses
    days = func.julianday("now") - func.julianday(moment)
    return compiler.process(days * 86400.0, **kw)


@compiles(_DbSecondsSince, "postgresql")
def _compile_since_postgresql(element: _DbSecondsSince, compiler: SQLCompiler, **kw: Any) -> str:
    (moment,) = element.clauses
    return compiler.process(extract("epoch", func.statement_timestamp() - moment), **kw)


@compiles(_DbNow)
@compiles(_DbSecondsSince)
def _compile_unsupported(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"{element.name} is implemented for SQLite and PostgreSQL only")
