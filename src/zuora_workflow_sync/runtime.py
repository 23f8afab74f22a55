"""`build_runtime(settings)`: the one place that builds the engine, repositories and keyring.

Commands and workers receive a `Runtime` and close it when done; nothing here runs at import.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from zuora_workflow_sync.drivers import require_drivers
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.alerts import AlertJournal
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.migrate import upgrade
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.workflows import WorkflowRepository

if TYPE_CHECKING:
    # Imported where used: httpx (the alerts' webhook) and cryptography cost every start.
    from zuora_workflow_sync.monitoring.alerts import FailureAlerts, Poster
    from zuora_workflow_sync.store.secrets import Keyring


@dataclass
class Runtime:
    """The process's handles on the database and the keys, built from one Settings."""

    settings: Settings
    engine: Engine
    customers: CustomerRepository = field(init=False)
    ledger: SyncRunLedger = field(init=False)
    workflows: WorkflowRepository = field(init=False)
    alerts: AlertJournal = field(init=False)
    # How alerts reach the webhook: at once (None: a command), or a worker's BackgroundPoster.
    alert_poster: Poster | None = None

    def __post_init__(self) -> None:
        self.customers = CustomerRepository(self.engine)
        self.ledger = SyncRunLedger(self.engine)
        self.workflows = WorkflowRepository(self.engine)
        self.alerts = AlertJournal(self.engine)

    def failure_alerts(self) -> FailureAlerts:
        """The repeated-failure alerts, delivered to the webhook and written to the journal."""
        from zuora_workflow_sync.monitoring.alerts import FailureAlerts, post_webhook

        poster = post_webhook if self.alert_poster is None else self.alert_poster
        return FailureAlerts.from_settings(self.settings, self.alerts, poster)

    @cached_property
    def keyring(self) -> Keyring:
        """The Fernet keys; built on first use so read-only commands need no key.

        A key file is created only while no client secret is stored: a missing key file with
        secrets in the database is a lost key (SecretsError), never a reason for a new one
        that could not open them.
        """
        from zuora_workflow_sync.store.secrets import Keyring, SecretsError

        keys = self.settings.secret_keys
        env_value = keys.get_secret_value() if keys is not None else None
        key_file = self.settings.resolved_key_file
        from_env = bool(env_value and env_value.strip())
        if not from_env and not key_file.exists() and self.customers.stored_secret() is not None:
            raise SecretsError(missing_key_file(key_file))
        return Keyring.from_sources(env_value, key_file)

    def check_keys(self) -> None:
        """SecretsError unless the configured keys can be read (ZWS_SECRET_KEYS well formed,
        the key file present and private) while client secrets are stored. An operator's
        problem, said before anything is dispatched, whatever the customers' circuits say; a
        well-formed key that opens no secret fails each run with that reason instead."""
        if self.customers.stored_secret() is not None:
            _ = self.keyring

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def missing_key_file(key_file: Path) -> str:
    return (
        f"the key file {key_file} is missing while client secrets are stored encrypted: "
        "restore it from your backup (mode 0600) or set ZWS_SECRET_KEYS to its keys; "
        "a new key would not open them, so none was made"
    )


def build_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Open the database (applying migrations first on the embedded SQLite default)."""
    url = settings.resolved_database_url
    require_drivers((url, settings.resolved_queue_url, settings.resolved_coordination_url))
    if migrate and url.startswith("sqlite"):
        upgrade(url)
    return Runtime(settings, create_engine_for(url))


def prepare_folders(settings: Settings) -> None:
    """Create the folders of the log file and of a SQLite database: a folder that cannot be
    made is a ConfigurationError naming the setting it comes from."""
    for folder, setting in _folders(settings).items():
        if folder.exists() and not folder.is_dir():
            raise ConfigurationError(f"{setting}: {str(folder)[:200]} is not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"{setting}: cannot create the folder {str(folder)[:200]} "
                f"({exc.strerror or type(exc).__name__})"
            ) from None


def _folders(settings: Settings) -> dict[Path, str]:
    """Each folder to create, with the setting it comes from (the first, when several)."""
    found: dict[Path, str] = {}
    if settings.log_file and settings.log_file != "-":
        found[Path(settings.log_file).parent] = "ZWS_LOG_FILE"
    elif not settings.log_file:
        found[settings.home] = "ZWS_HOME"
    # Not the queue's: a SQLite queue that cannot be opened is "queue unavailable", which
    # `sync-workflows` answers by syncing inline (the specification's fallback).
    database = _sqlite_file(settings.resolved_database_url)
    if database is not None:
        given = settings.database_url is not None
        found.setdefault(database.parent, "ZWS_DATABASE_URL" if given else "ZWS_HOME")
    return found


def _sqlite_file(url: str) -> Path | None:
    """The file of a `sqlite:///PATH` URL; None for any other (a bad URL fails later)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    return Path(str(database)).expanduser()


def operator_identity() -> str:
    """`user@host` for the ledger's audit trail."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:200]
