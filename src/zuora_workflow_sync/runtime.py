"""`build_runtime(settings)`: the one place that builds the engine, repositories and keyring.

Commands and workers receive a `Runtime` and close it when done; nothing here runs at import.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass, field
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from zuora_workflow_sync.drivers import require_drivers
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.alerts import AlertJournal
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.migrate import upgrade_unless_at_head
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.workflows import WorkflowRepository

if TYPE_CHECKING:
    # Imported where used: httpx (the alerts' webhook) and cryptography cost every start.
    from zuora_workflow_sync.monitoring.alerts import FailureAlerts
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

    def __post_init__(self) -> None:
        self.customers = CustomerRepository(self.engine)
        self.ledger = SyncRunLedger(self.engine)
        self.workflows = WorkflowRepository(self.engine)
        self.alerts = AlertJournal(self.engine)

    def failure_alerts(self) -> FailureAlerts:
        """The repeated-failure alerts, delivered to the webhook and written to the journal."""
        from zuora_workflow_sync.monitoring.alerts import FailureAlerts

        return FailureAlerts.from_settings(self.settings, self.alerts)

    @cached_property
    def keyring(self) -> Keyring:
        """The Fernet keys; built on first use so read-only commands need no key."""
        from zuora_workflow_sync.store.secrets import Keyring

        keys = self.settings.secret_keys
        return Keyring.from_sources(
            keys.get_secret_value() if keys is not None else None,
            self.settings.resolved_key_file,
        )

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


def build_runtime(settings: Settings, *, migrate: bool = True) -> Runtime:
    """Open the database (applying migrations first on the embedded SQLite default)."""
    url = settings.resolved_database_url
    require_drivers((url, settings.resolved_queue_url, settings.resolved_coordination_url))
    if migrate and url.startswith("sqlite"):
        upgrade_unless_at_head(url)
    return Runtime(settings, create_engine_for(url))


def operator_identity() -> str:
    """`user@host` for the ledger's audit trail."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:200]
