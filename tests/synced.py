"""The `synced` fixture (a plugin of tests/conftest.py, for the read side's and the dashboard's
suites): two simulator tenants synced for real (`sync-workflows --sync`) into each backend,
then read through the `workflow-sync` commands, in-process.

`synced.change(...)` edits the simulator through its admin API and `synced.sync()` syncs again,
so history, diffs and backups see real changes. `zuora_export` reads an export straight from
the simulator over HTTP, to compare what was stored with what Zuora sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from tests.backends import Backend
from zuora_workflow_sync.cli import app
from zuora_workflow_sync.cli.sync_workflows import app as sync_app
from zuora_workflow_sync.domain.models import Customer
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.simulator.admin_client import TenantCredentials
from zuora_workflow_sync.store.secrets import Keyring

TENANTS = ("tenant-001", "tenant-002")
CUSTOMER_NAMES = ("Acme Corp", "Globex: EU")  # a colon: CUSTOMER:ID splits on the last one


@dataclass
class Synced:
    """A product installation whose customers were synced from the simulator."""

    runtime: Runtime
    admin: SimulatorAdmin
    env: dict[str, str]
    customers: list[Customer] = field(default_factory=list)
    _runner: CliRunner = field(default_factory=CliRunner)

    def cli(self, *args: str) -> Result:
        """`workflow-sync ARGS` in this process, stdout and stderr apart."""
        return self._runner.invoke(app, list(args), env=self.env)

    def json(self, *args: str, exit_code: int = 0) -> Any:
        result = self.cli(*args, "--json")
        assert result.exit_code == exit_code, (result.stdout, result.stderr)
        return json.loads(result.stdout)

    def sync(self, *options: str) -> None:
        """`sync-workflows --force --sync OPTIONS` in-process, on a thread of its own: a browser
        test's Playwright (sync API) keeps an event loop running on the main thread."""
        with ThreadPoolExecutor(1) as pool:
            arguments = ["--force", "--sync", *options]
            result = pool.submit(self._runner.invoke, sync_app, arguments, env=self.env).result()
        assert result.exit_code == 0, (result.stdout, result.stderr)

    def credentials(self, tenant: str) -> TenantCredentials:
        return self.admin.credentials(tenant)

    def add_customer(self, tenant: str, name: str) -> Customer:
        """A customer of `tenant`, added and never synced."""
        customer = _add_customer(self.runtime, self.admin, tenant, name)
        self.customers.append(customer)
        return customer

    def sync_one(self, customer_id: int) -> str:
        """`sync-workflows CUSTOMER_ID` (dispatch to the queue), in-process: its stdout."""
        result = self._runner.invoke(sync_app, [str(customer_id)], env=self.env)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result.stdout

    def worker_environment(self) -> dict[str, str]:
        """The environment of a process of this installation (no other ZWS_* variable)."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("ZWS_")}
        return {**environment, **self.env}

    def worker(self, *args: str, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
        """`workflow-sync worker ARGS` in a process of its own, on this installation."""
        return subprocess.run(
            [str(Path(sys.executable).parent / "workflow-sync"), "worker", *args],
            env=self.worker_environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def synced(
    tmp_path: Path, backend: Backend, sim_admin: SimulatorAdmin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Synced]:
    for name in [name for name in os.environ if name.startswith("ZWS_")]:
        monkeypatch.delenv(name)
    key = Keyring.generate_key()
    env = {
        "ZWS_HOME": str(tmp_path / "home"),
        "ZWS_SECRET_KEYS": key,
        "ZWS_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
        **backend.env,
    }
    settings = Settings(
        home=tmp_path / "home",
        secret_keys=SecretStr(key),
        database_url=backend.database_url,
        queue_url=backend.queue_url,
    )
    with build_runtime(settings) as runtime:
        installation = Synced(runtime, sim_admin, env)
        for tenant, name in zip(TENANTS, CUSTOMER_NAMES, strict=True):
            installation.customers.append(_add_customer(runtime, sim_admin, tenant, name))
        installation.sync()
        yield installation


def _add_customer(runtime: Runtime, admin: SimulatorAdmin, tenant: str, name: str) -> Customer:
    credentials = admin.credentials(tenant)
    multi = bool(admin.tenant(tenant)["multi_entity"])
    return runtime.customers.add(
        name,
        zuora_base_url=credentials.base_url,
        client_id=credentials.client_id,
        client_secret_encrypted=runtime.keyring.encrypt(SecretStr(credentials.client_secret)),
        entity_id=credentials.entity_ids[0] if multi else None,
    )


def simulator_token(client: httpx.Client, credentials: TenantCredentials) -> str:
    """An access token for `credentials` from the simulator's `/oauth/token`."""
    token: str = client.post(
        "/oauth/token",
        data={
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
            "grant_type": "client_credentials",
        },
    ).json()["access_token"]
    return token


def zuora_export(credentials: TenantCredentials, workflow_id: int) -> dict[str, Any]:
    """`GET /workflows/{id}/export` from the simulator, as Zuora's API serves it."""
    with httpx.Client(base_url=credentials.base_url, timeout=10) as client:
        token = simulator_token(client, credentials)
        headers = {"Authorization": f"Bearer {token}"}
        if credentials.entity_ids and len(credentials.entity_ids) > 1:
            headers["Zuora-Entity-Ids"] = credentials.entity_ids[0]
        response = client.get(f"/workflows/{workflow_id}/export", headers=headers)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        return document
