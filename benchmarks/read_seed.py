"""Seeds a store for the read-path benchmark: customers and their workflows written as syncs write
them (a run recorded, claimed, fenced, `apply_sync` and `finish_succeeded` in one transaction).

Workflows come from the simulator's generator: its listing entries and export documents,
serialized and parsed by the product's own models as a sync parses them. Each customer is
synced once per version of a workflow up to its active one, so history holds every content a
sync would have seen (about half the workflows get two or more). One Callout URL in 1,000
points at a rare path (`RARE_URL`), for a text search with few hits. Run alone, it seeds a
throwaway database and prints the seed's time: the write-path cost of a code version.

    .venv/bin/python benchmarks/read_seed.py --configuration sqlite --customers 200
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Connection, Engine, create_engine, func, select, text

from zuora_workflow_sync.domain.models import FetchedWorkflow, RunRequest, RunTrigger
from zuora_workflow_sync.simulator.generation import add_tenant, ensure_documents, tenant_name
from zuora_workflow_sync.simulator.tenants import Tenant, Universe, Workflow, WorkflowVersion
from zuora_workflow_sync.simulator.views import active_version_summary, encode, list_item
from zuora_workflow_sync.store import migrate
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.engine import create_engine_for, writing
from zuora_workflow_sync.store.runs import SyncRunLedger
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import WorkflowHistoryRow, WorkflowRow, WorkflowTaskRow
from zuora_workflow_sync.store.workflows import apply_sync
from zuora_workflow_sync.sync.fetch import to_fetched
from zuora_workflow_sync.zuora.models import WorkflowDefinition, WorkflowExport

ADMIN_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RARE_URL = "https://ledger.example.com/zuora/refunds"
BASE_URL = "https://rest.apisandbox.zuora.com"
UNIVERSE_SEED = 7
_RARE_ONE_IN = 1000
_WORKER = "read-bench-seed"
Say = Callable[[str], None]


@dataclass(frozen=True)
class SeedFigures:
    """What a seed wrote, and how long generating and storing took."""

    customers: int
    workflows: int
    tasks: int
    history: int
    runs: int
    generate_seconds: float
    store_seconds: float

    def line(self) -> str:
        rows = self.workflows + self.tasks + self.history
        return (
            f"seeded {self.customers:,} customers, {self.workflows:,} workflows, "
            f"{self.tasks:,} tasks, {self.history:,} history entries in {self.runs:,} runs: "
            f"store {self.store_seconds:.1f} s ({self.tasks / self.store_seconds:,.0f} tasks/s, "
            f"{rows / self.store_seconds:,.0f} rows/s), documents generated and parsed "
            f"{self.generate_seconds:.1f} s"
        )


# -- documents, as a sync receives them ---------------------------------------------------------


def _path(workflow: Workflow) -> list[WorkflowVersion]:
    """The versions successive syncs see: the first, each next one, up to the active one."""
    active = workflow.versions.index(workflow.active_version())
    return workflow.versions[: active + 1]


def _mark_rare(workflow: Workflow) -> None:
    """Point one Callout in `_RARE_ONE_IN` at RARE_URL, the same task position in every version."""
    for version in workflow.versions:
        assert version.document is not None
        for position, task in enumerate(version.document["tasks"]):
            rare = zlib.crc32(f"{workflow.id}:{position}".encode()) % _RARE_ONE_IN == 0
            if rare and task["action_type"] == "Callout":
                task["parameters"]["url"] = RARE_URL


def _fetched(workflow: Workflow, version: WorkflowVersion) -> FetchedWorkflow:
    """The listing entry and export of `version` as the simulator serves them, parsed."""
    item = list_item(workflow)
    item["active_version"] = active_version_summary(version)
    item["updatedAt"] = version.updated_at
    listed = WorkflowDefinition.model_validate(json.loads(encode(item)))
    document = json.loads(encode(version.document))
    export = WorkflowExport.model_validate(document).model_copy(update={"document": document})
    return to_fetched(listed, export)


def customer_syncs(tenant: Tenant) -> list[list[FetchedWorkflow]]:
    """What each successive sync of the tenant exports (the first: every workflow)."""
    paths = []
    for workflow in tenant.sorted_workflows():
        ensure_documents(workflow)
        _mark_rare(workflow)
        paths.append((workflow, _path(workflow)))
    depth = max((len(path) for _, path in paths), default=0)
    return [
        [_fetched(workflow, path[step]) for workflow, path in paths if step < len(path)]
        for step in range(depth)
    ]


# -- writes, as a worker makes them --------------------------------------------------------------


def sync_once(
    engine: Engine, customer_id: int, fetched: list[FetchedWorkflow], listed: set[int], at: datetime
) -> None:
    """One run of the customer: recorded, claimed, then stored and finished in one transaction."""
    ledger = SyncRunLedger(engine)
    recorded = ledger.record_batch(
        [RunRequest(customer_id, at)],
        queue="default",
        trigger=RunTrigger.COMMAND,
        dispatched_by=_WORKER,
        max_attempts=1,
    ).recorded
    claimed = ledger.claim(recorded[0].run_id, _WORKER, 600.0)
    if claimed is None:
        raise SystemExit(f"run {recorded[0].run_id} of customer {customer_id} was not claimed")
    with writing(engine) as conn:
        ledger.fence(conn, claimed.run_id, claimed.attempt)
        counts = apply_sync(conn, customer_id, claimed.run_id, fetched, listed, True, at)
        CustomerRepository(engine).record_success(conn, customer_id)
        ledger.finish_succeeded(conn, claimed.run_id, claimed.attempt, counts)


def _add_customer(engine: Engine, tenant: Tenant, keyring: Keyring) -> int:
    customer = CustomerRepository(engine).add(
        f"Customer of {tenant.name}",
        zuora_base_url=BASE_URL,
        client_id=tenant.client_id,
        client_secret_encrypted=keyring.encrypt(SecretStr(tenant.client_secret)),
    )
    return customer.id


def seed(engine: Engine, customers: int, workflows: int, say: Say) -> SeedFigures:
    """Add `customers` customers of `workflows` workflows each and sync them all."""
    universe = Universe(seed=UNIVERSE_SEED, tenants={})
    keyring = Keyring([Keyring.generate_key()])
    generate = store = 0.0
    runs = 0
    first_sync = datetime.now(UTC) - timedelta(days=30)
    for index in range(1, customers + 1):
        started = time.perf_counter()
        tenant = add_tenant(universe, tenant_name(index), workflows)
        syncs = customer_syncs(tenant)
        listed = set(tenant.workflows)
        tenant.workflows = {}  # its documents live on in `syncs` until they are stored
        written = time.perf_counter()
        customer_id = _add_customer(engine, tenant, keyring)
        for step, fetched in enumerate(syncs):
            sync_once(engine, customer_id, fetched, listed, first_sync + timedelta(days=step))
        runs += len(syncs)
        generate, store = generate + written - started, store + time.perf_counter() - written
        if index % 100 == 0:
            say(
                f"  {index:,} customers seeded ({store:.0f} s storing, {generate:.0f} s generating)"
            )
    return _figures(engine, customers, runs, generate, store)


def _figures(
    engine: Engine, customers: int, runs: int, generate: float, store: float
) -> SeedFigures:
    with engine.connect() as conn:
        tasks = _count(conn, WorkflowTaskRow)
        history = _count(conn, WorkflowHistoryRow)
        workflows = _count(conn, WorkflowRow)
    return SeedFigures(customers, workflows, tasks, history, runs, generate, store)


def _count(conn: Connection, table: type[Any]) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# -- throwaway databases ---------------------------------------------------------------------------


@contextmanager
def sqlite_database(keep: bool) -> Iterator[str]:
    """A migrated SQLite file in a new temporary folder, removed afterwards unless `keep`."""
    folder = Path(tempfile.mkdtemp(prefix="zws-read-bench-"))
    url = f"sqlite:///{folder / 'zws.sqlite3'}"
    migrate.upgrade(url)
    try:
        yield url
    finally:
        if not keep:
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()


@contextmanager
def postgres_database(admin_url: str, keep: bool) -> Iterator[str]:
    """A migrated private PostgreSQL database, dropped afterwards unless `keep`."""
    name = f"zws_read_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin_url.rsplit("/", 1)[0] + "/" + name
        try:
            migrate.upgrade(url)
            yield url
        finally:
            if not keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def throwaway_database(configuration: str, admin_url: str, keep: bool) -> Iterator[str]:
    """A migrated database of `configuration` (sqlite or postgres): its URL."""
    if configuration == "sqlite":
        with sqlite_database(keep) as url:
            yield url
    else:
        with postgres_database(admin_url, keep) as url:
            yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configuration", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--workflows", type=int, default=50)
    parser.add_argument("--admin-url", default=ADMIN_POSTGRES)
    args = parser.parse_args()
    with throwaway_database(args.configuration, args.admin_url, keep=False) as url:
        engine = create_engine_for(url)
        try:
            print(
                f"{args.configuration}: "
                + seed(engine, args.customers, args.workflows, print).line()
            )
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
