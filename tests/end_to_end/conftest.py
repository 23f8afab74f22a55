"""End-to-end fixtures: the real console scripts in subprocesses, on each backend.

The home (logs, key file) is in tmp_path; data and queue are the `backend` fixture's: SQLite files,
or a PostgreSQL database and a Redis database, selected through ZWS_DATABASE_URL and ZWS_QUEUE_URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.backends import Backend
from zuora_workflow_sync.domain.models import Customer
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.secrets import Keyring

BIN = Path(sys.executable).parent


@dataclass
class Installation:
    """One product installation: its environment, a runtime to inspect it, and its commands."""

    home: Path
    env: dict[str, str]
    runtime: Runtime
    admin: SimulatorAdmin
    backend: Backend

    def run(
        self, command: str, *args: str, stdin: str | None = None, timeout: float = 180.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / command), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log_entries(self) -> list[dict[str, Any]]:
        """Every JSON line the commands logged (to ZWS_HOME/zws.log, the default)."""
        log = self.home / "zws.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]

    def add_customer(self, tenant: str, name: str) -> Customer:
        credentials = self.admin.credentials(tenant)
        multi = bool(self.admin.tenant(tenant)["multi_entity"])
        return self.runtime.customers.add(
            name,
            zuora_base_url=credentials.base_url,
            client_id=credentials.client_id,
            client_secret_encrypted=self.runtime.keyring.encrypt(
                SecretStr(credentials.client_secret)
            ),
            entity_id=credentials.entity_ids[0] if multi else None,
        )


@pytest.fixture
def install(tmp_path: Path, sim_admin: SimulatorAdmin, backend: Backend) -> Iterator[Installation]:
    key = Keyring.generate_key()
    env = {
        key_: value
        for key_, value in os.environ.items()
        if not key_.startswith("ZWS_") and key_ != "CI"
    }
    env.update(
        {
            "ZWS_HOME": str(tmp_path / "home"),
            "ZWS_SECRET_KEYS": key,
            "ZWS_LOG_JSON": "true",
            "ZWS_HTTP_MAX_ATTEMPTS": "2",
            "ZWS_HTTP_BACKOFF_BASE_SECONDS": "0.01",
            "ZWS_HTTP_BACKOFF_CAP_SECONDS": "0.05",
            **backend.env,
        }
    )
    home = tmp_path / "home"
    settings = Settings(
        home=home,
        secret_keys=SecretStr(key),
        database_url=backend.database_url,
        queue_url=backend.queue_url,
    )
    with build_runtime(settings) as runtime:
        yield Installation(home, env, runtime, sim_admin, backend)
