"""`workflow-sync db` (apply and inspect migrations), and what every command shares on top of
`cli.common`: `open_runtime()` (database failures as one line), `OneLineCommand` (usage errors as
one line, secrets refused on the command line) and `parse_id`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from typer.core import TyperCommand

from zuora_workflow_sync.cli.common import (
    command_errors,
    fail,
    runtime_for_command,
    settings_for_command,
)
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.runtime import Runtime
from zuora_workflow_sync.store import integrity
from zuora_workflow_sync.store.engine import create_engine_for

logger = logging.getLogger("zuora_workflow_sync.cli")

CUSTOMER_ID_MAX = 2**31 - 1
RUN_ID_MAX = 2**63 - 1
_SECRET_WORDS = ("secret", "password", "passwd", "token", "key")
SECRETS_REFUSED = (
    "secrets are never accepted on the command line (shell history, process list): give a "
    "client secret on stdin (--secret-stdin, the default), in an environment variable "
    "(--secret-env VAR) or in a file (--secret-file PATH); encryption keys come from "
    "ZWS_SECRET_KEYS or the key file"
)

db_app = typer.Typer(
    no_args_is_help=True,
    help="Apply and inspect the schema migrations of the database at ZWS_DATABASE_URL.",
)


class OneLineCommand(TyperCommand):
    """A command whose usage errors are one line on stderr and exit 1.

    Unknown options and extra arguments are never echoed (one may be a secret), and an
    option that looks like a secret is refused with the ways a secret may be given.
    """

    # "-1" reaches the id check instead of "no such option"; extras are checked below.
    allow_extra_args = True
    ignore_unknown_options = True

    # typer.Context is the public subclass of the (private, vendored) click Context Typer passes.
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        self._refuse_secret_options(args)
        try:
            rest = super().parse_args(ctx, args)
        except typer.TyperException as exc:
            raise fail(exc.format_message()) from None
        if ctx.args:
            options = sorted({arg.split("=", 1)[0] for arg in ctx.args if arg.startswith("--")})
            found = f"no such option: {', '.join(options)}" if options else "unexpected argument"
            raise fail(f"{found} (values are not shown: one may be a secret); see --help")
        return rest

    def _refuse_secret_options(self, args: list[str]) -> None:
        known = {name for param in self.params for name in (*param.opts, *param.secondary_opts)}
        for arg in args:
            if arg == "--":
                return
            name = arg.split("=", 1)[0].lower()
            looks_secret = any(word in name for word in _SECRET_WORDS)
            if name.startswith("-") and name not in known and looks_secret:
                raise fail(SECRETS_REFUSED)


def parse_id(text: str, noun: str, maximum: int = CUSTOMER_ID_MAX) -> int:
    """A positive id typed by the operator; ConfigurationError for anything else."""
    value = text.strip()
    if value.isascii() and value.isdigit() and len(value) <= 19 and 1 <= int(value) <= maximum:
        return int(value)
    raise ConfigurationError(
        f"a {noun} id must be a whole number from 1 to {maximum}, got {value[:40]!r}"
    )


@contextmanager
def database_errors() -> Iterator[None]:
    """An unreachable or failing database becomes one line (never the URL: it may hold a
    password) and exit 1; the failed transaction was rolled back."""
    try:
        yield
    except DBAPIError as exc:
        if os.environ.get("ZWS_VERBOSE") == "1":
            logger.exception("database error")
        raise fail(database_error_message(exc)) from None


def database_error_message(exc: DBAPIError) -> str:
    """What a database error means for the operator, and what to do, in one line."""
    reason = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
    detail = str(exc.orig) if exc.orig is not None else ""
    if reason in ("UndefinedTable", "UndefinedColumn") or detail.startswith(
        ("no such table", "no such column")
    ):
        return (
            f"database error ({reason}): the database has no schema yet, or an older one than "
            "this code: run `workflow-sync db upgrade`"
        )
    if detail.startswith(("database disk image is malformed", "file is not a database")):
        return (
            f"database error ({reason}): the SQLite database file is damaged ({detail}): "
            "run `workflow-sync db check`"
        )
    return (
        f"database error ({reason}): check ZWS_DATABASE_URL and that the server is up; "
        "ZWS_VERBOSE=1 shows details"
    )


@contextmanager
def open_runtime() -> Iterator[Runtime]:
    """The runtime of one command; operator and database errors become one line, exit 1."""
    with database_errors(), runtime_for_command() as runtime:
        yield runtime


@db_app.command("upgrade", cls=OneLineCommand)
def upgrade() -> None:
    """Apply every pending migration to ZWS_DATABASE_URL (safe to run concurrently).

    The embedded SQLite default is migrated by every command; PostgreSQL needs this once per
    release, before the workers start.
    """
    from zuora_workflow_sync.store import migrate

    with database_errors(), command_errors():
        url = settings_for_command().resolved_database_url
        migrate.upgrade(url)
        revision = migrate.current(url)
    typer.echo(f"Database at revision {revision}")


@db_app.command("current", cls=OneLineCommand)
def current() -> None:
    """Print the revision the database is at, and whether it is behind this code."""
    from zuora_workflow_sync.store import migrate

    with database_errors(), command_errors():
        url = settings_for_command().resolved_database_url
        revision = None if _missing_sqlite_file(url) else migrate.current(url)
        head = migrate.head_revision()
    if revision == head:
        typer.echo(f"Database at revision {revision}")
    else:
        typer.echo(
            f"Database at revision {revision or '(none)'} (newest: {head}); "
            "run: workflow-sync db upgrade"
        )


@db_app.command("check", cls=OneLineCommand)
def check() -> None:
    """Run the database's integrity check; exit 0 when it passes, 1 with what to do when not.

    SQLite: PRAGMA quick_check (every page and b-tree of the file). PostgreSQL: the schema is
    at this code's newest revision, with every table, key and constraint. A worker runs the
    same check before it starts and refuses a database that fails it; on SQLite, every
    process checks before its first write.
    """
    from zuora_workflow_sync.store import migrate

    with database_errors(), command_errors():
        url = settings_for_command().resolved_database_url
        if _missing_sqlite_file(url):
            raise ConfigurationError(f"no database file yet: {integrity.UPGRADE}")
        engine = create_engine_for(url)
        try:
            integrity.check(engine)
        finally:
            engine.dispose()
    typer.echo(f"Database OK: integrity check passed, at revision {migrate.head_revision()}")


def _missing_sqlite_file(url: str) -> bool:
    """True for a SQLite file that does not exist (so `current` does not create it)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False  # migrate.current raises the one-line ConfigurationError
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return False
    return not Path(str(database)).expanduser().exists()
