"""Bad inputs from Zuora (shared/reliability.md, "Bad inputs: From Zuora"), each served by the
simulator's faults to a real `sync-workflows CUSTOMER --sync` process on SQLite.

Every case: exit 1 with one line on stderr and no traceback, the run failed with a typed error
and a one-line excerpt without the secret or the token, the process's peak memory bounded, and
nothing written (the database's workflows, history and tasks as before: none).

Already proven at the client level (tests/integration/test_client_faults.py: the typed error of
each malformed variant, HTML, oversize, gzip bomb, drip; test_client_redirects.py: a redirect to
another host is never followed), and at the run level for a malformed export and a listing that
fails on page 7 (tests/sync/test_job.py). Here: the whole process, its exit and its memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from tests.synced import simulator_token
from zuora_workflow_sync.domain.models import RunStatus
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin, TenantCredentials
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import WorkflowHistoryRow, WorkflowRow, WorkflowTaskRow

pytestmark = [pytest.mark.slow]

BIN = Path(sys.executable).parent
TENANT = "tenant-001"
# A sync process of this product peaks near 100 MB; a body read whole past the caps (a 100 MB
# string, a 1 GB gzip bomb) would show far above this.
PEAK_MEMORY_BYTES = 250 * 1024 * 1024
BODY_CAP_BYTES = 16 * 1024 * 1024


@dataclass
class Install:
    runtime: Runtime
    env: dict[str, str]
    customer: int
    credentials: TenantCredentials


@pytest.fixture
def install(tmp_path: Path, sim_admin: SimulatorAdmin) -> Iterator[Install]:
    """An installation on SQLite under tmp_path with one customer: the simulator's TENANT."""
    key = Keyring.generate_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZWS_")}
    env.update(
        {
            "ZWS_HOME": str(tmp_path),
            "ZWS_SECRET_KEYS": key,
            "ZWS_HTTP_MAX_ATTEMPTS": "1",
            "ZWS_HTTP_DEADLINE_SECONDS": "10",
            "ZWS_HTTP_MAX_BODY_BYTES": str(BODY_CAP_BYTES),
            "ZWS_LOG_LEVEL": "DEBUG",
            "COLUMNS": "200",
        }
    )
    runtime = build_runtime(Settings(home=tmp_path, secret_keys=SecretStr(key)))
    credentials = sim_admin.credentials(TENANT)
    customer = runtime.customers.add(
        "Acme",
        zuora_base_url=credentials.base_url,
        client_id=credentials.client_id,
        client_secret_encrypted=runtime.keyring.encrypt(SecretStr(credentials.client_secret)),
    )
    try:
        yield Install(runtime, env, customer.id, credentials)
    finally:
        runtime.close()


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str
    peak_bytes: int


def sync(install: Install, folder: Path) -> Ran:
    """`sync-workflows CUSTOMER --sync` as a process: its outcome and its peak resident memory
    since exec (VmHWM, read every 10 ms until it exits; wait4's ru_maxrss would count the
    pages of this test process it was forked from)."""
    out, err = folder / "sync.out", folder / "sync.err"
    peak = 0
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            [str(BIN / "sync-workflows"), str(install.customer), "--sync"],
            env=install.env,
            stdout=stdout,
            stderr=stderr,
        )
    status = Path(f"/proc/{process.pid}/status")
    deadline = time.monotonic() + 120
    while process.poll() is None:
        assert time.monotonic() < deadline, "the sync process hangs"
        peak = max(peak, _high_water_mark(status))
        time.sleep(0.01)
    return Ran(
        process.returncode,
        out.read_text(encoding="utf-8", errors="replace"),
        err.read_text(encoding="utf-8", errors="replace"),
        peak,
    )


def _high_water_mark(status: Path) -> int:
    """VmHWM of /proc/PID/status in bytes; 0 once the process is gone (or before exec)."""
    try:
        text = status.read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def stored_rows(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (WorkflowRow, WorkflowHistoryRow, WorkflowTaskRow)
        )


def first_page(credentials: TenantCredentials, page_length: int = 5) -> dict[str, Any]:
    """Page 1 of TENANT's listing, straight from the simulator."""
    with httpx.Client(base_url=credentials.base_url) as client:
        token = simulator_token(client, credentials)
        reply = client.get(
            "/workflows",
            params={"page": "1", "page_length": str(page_length)},
            headers={"Authorization": f"Bearer {token}"},
        )
    page: dict[str, Any] = reply.json()
    return page


def repeated_page(admin: SimulatorAdmin, credentials: TenantCredentials) -> dict[str, Any]:
    """A full page 1 (50 of 60 workflows) pointing at page 2, served for every page: the
    listing never moves on."""
    admin.set_workflow_count(TENANT, 60)
    page = first_page(credentials, page_length=50)
    assert page["pagination"]["next_page"], page["pagination"]
    return page


def wrong_types(admin: SimulatorAdmin, credentials: TenantCredentials) -> dict[str, Any]:
    page = first_page(credentials)
    page["data"][0]["id"] = "not-a-number"
    page["pagination"].pop("next_page", None)
    return page


def missing_field(admin: SimulatorAdmin, credentials: TenantCredentials) -> dict[str, Any]:
    page = first_page(credentials)
    del page["data"][0]["id"]
    page["pagination"].pop("next_page", None)
    return page


def null_data(admin: SimulatorAdmin, credentials: TenantCredentials) -> dict[str, Any]:
    return {"data": None, "pagination": {"page": 1, "page_length": 0}}


# (id, route, fault rule): each one is a bad input of shared/reliability.md.
CASES: list[Any] = [
    pytest.param("list", {"kind": "malformed", "variant": "not_json"}, id="non_json_200"),
    pytest.param("list", {"kind": "html", "status": 200}, id="html_error_page"),
    pytest.param("list", {"kind": "malformed", "variant": "empty"}, id="empty_body"),
    pytest.param("export", {"kind": "malformed", "variant": "truncated"}, id="truncated_body"),
    pytest.param(
        "list",
        {"kind": "malformed", "variant": "wrong_content_type"},
        id="wrong_content_type",
    ),
    pytest.param("list", {"kind": "status", "status": 200, "body": wrong_types}, id="wrong_types"),
    pytest.param(
        "list", {"kind": "status", "status": 200, "body": missing_field}, id="missing_fields"
    ),
    pytest.param("list", {"kind": "status", "status": 200, "body": null_data}, id="nulls"),
    pytest.param("export", {"kind": "oversize", "size_bytes": 30_000_000}, id="string_of_30_mb"),
    pytest.param("export", {"kind": "oversize", "size_bytes": 100_000_000}, id="string_of_100_mb"),
    pytest.param("export", {"kind": "malformed", "variant": "deep_nesting"}, id="deep_nesting"),
    pytest.param("export", {"kind": "malformed", "variant": "nan"}, id="nan"),
    pytest.param("export", {"kind": "malformed", "variant": "duplicate_keys"}, id="duplicate_keys"),
    pytest.param("export", {"kind": "malformed", "variant": "nul_bytes"}, id="nul_bytes"),
    pytest.param("export", {"kind": "malformed", "variant": "invalid_utf8"}, id="invalid_utf8"),
    pytest.param(
        "list", {"kind": "status", "status": 200, "body": repeated_page}, id="repeated_pages"
    ),
    pytest.param("export", {"kind": "gzip_bomb", "size_bytes": 1_000_000_000}, id="gzip_bomb_1_gb"),
    pytest.param("export", {"kind": "drop", "variant": "mid_body"}, id="chunked_without_end"),
]


@pytest.mark.parametrize(("route", "rule"), CASES)
def test_bad_zuora_reply_fails_the_run_with_one_line_and_writes_nothing(
    route: str, rule: dict[str, Any], install: Install, sim_admin: SimulatorAdmin, tmp_path: Path
) -> None:
    fields = dict(rule)
    if callable(fields.get("body")):
        fields["body"] = fields["body"](sim_admin, install.credentials)
    sim_admin.add_fault(fields.pop("kind"), tenant=TENANT, route=route, **fields)

    ran = sync(install, tmp_path)

    assert ran.returncode == 1, (ran.stdout, ran.stderr)
    assert "Traceback" not in ran.stdout + ran.stderr
    assert ran.stderr.splitlines() == ["Sync failed: 1 of 1 runs failed"], ran.stderr
    (run,) = install.runtime.ledger.list_runs(customer_id=install.customer)
    assert run.status is RunStatus.FAILED
    assert run.error_class is not None and run.error_class.endswith("Error"), run
    excerpt = str(run.error_message)
    assert excerpt and "\n" not in excerpt and len(excerpt) <= 1000, excerpt
    assert install.credentials.client_secret not in excerpt
    assert install.credentials.client_secret not in ran.stdout + ran.stderr
    assert stored_rows(install.runtime) == (0, 0, 0)
    assert ran.peak_bytes < PEAK_MEMORY_BYTES, f"peak {ran.peak_bytes / 2**20:.0f} MiB"
