"""`customers check C` and the check `customers add` runs first, against the simulator over
HTTP, on SQLite and on PostgreSQL + Redis: what each failure says, that a failed check adds
nothing, that the probe's token stays out of the coordination store, and that neither the
secret nor the token reaches the output or the log."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select
from typer.testing import CliRunner, Result

from tests.backends import Backend
from zuora_workflow_sync.cli.sync_workflows import app as sync_workflows_app
from zuora_workflow_sync.simulator import SimulatorAdmin, SimulatorServer
from zuora_workflow_sync.store.engine import create_engine_for
from zuora_workflow_sync.store.tables import Base

from .conftest import CLIENT_ID, Cli, assert_refused

TENANT = "tenant-001"  # 12 workflows, one entity
JSON_KEYS = {
    "customer_id",
    "ok",
    "problem",
    "message",
    "token",
    "workflows_on_first_page",
    "more_pages",
    "entity_ids",
    "status",
    "failed_at",
    "request_id",
}


class CheckCli:
    """`workflow-sync` on one backend, adding simulated tenants with their real credentials."""

    def __init__(self, cli: Cli, backend: Backend, admin: SimulatorAdmin) -> None:
        self.cli = cli
        self.backend = backend
        self.admin = admin

    def add(self, tenant: str, *options: str, name: str | None = None) -> Result:
        credentials = self.admin.credentials(tenant)
        return self.add_with(
            name or tenant,
            credentials.client_id,
            credentials.client_secret,
            *options,
            base_url=credentials.base_url,
        )

    def add_with(
        self, name: str, client_id: str, secret: str, *options: str, base_url: str
    ) -> Result:
        args = ("--name", name, "--base-url", base_url, "--client-id", client_id, *options)
        return self.cli("customers", "add", *args, input=secret + "\n")

    def check(self, *args: str) -> Result:
        return self.cli("customers", "check", *args)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table: equal snapshots mean nothing was written."""
        engine = create_engine_for(self.backend.database_url)
        try:
            with engine.connect() as conn:
                return {
                    table.name: sorted(tuple(map(repr, row)) for row in conn.execute(select(table)))
                    for table in Base.metadata.sorted_tables
                }
        finally:
            engine.dispose()

    def coordination_is_empty(self) -> bool:
        """No token (nor anything else) in the coordination store: Redis, or the SQLite file."""
        if self.backend.queue_url.startswith("redis"):
            client = redis.Redis.from_url(self.backend.queue_url)
            try:
                return client.dbsize() == 0
            finally:
                client.close()
        return not (self.cli.home / "coordination.sqlite3").exists()


@pytest.fixture
def check_cli(
    cli: Cli, backend: Backend, sim_admin: SimulatorAdmin, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CheckCli]:
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    yield CheckCli(cli, backend, sim_admin)


def _closed_port() -> int:
    with socket.socket() as probe:  # free a moment ago: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _check_failed(result: Result, *fragments: str) -> str:
    """Exit 1, nothing on stdout, one `Check failed:` line on stderr holding `fragments`."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Check failed: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_add_checks_then_adds_when_the_credentials_work(
    check_cli: CheckCli, sim_admin: SimulatorAdmin, simulator: SimulatorServer
) -> None:
    result = check_cli.add(TENANT)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Check passed: token issued, 12 workflows on the first page",
        f"Customer 1 added: {TENANT} ({simulator.base_url})",
    ]
    assert check_cli.coordination_is_empty()


def test_check_passes_when_named_by_id_or_by_exact_name(
    check_cli: CheckCli, sim_admin: SimulatorAdmin
) -> None:
    check_cli.add(TENANT)
    check_cli.add("tenant-002", name="7")  # a name that looks like an id
    before = check_cli.snapshot()

    by_id = check_cli.check("1")
    by_name = check_cli.check(TENANT, "--json")
    numeric_name = check_cli.check("7", "--json")

    assert by_id.exit_code == 0, by_id.output
    assert by_id.stdout == "Check passed: token issued, 12 workflows on the first page\n"
    document = json.loads(by_name.stdout)
    assert set(document) == JSON_KEYS
    assert document["customer_id"] == 1 and document["ok"] is True
    assert document["problem"] is None and document["token"] == "issued"
    assert document["workflows_on_first_page"] == 12 and document["more_pages"] is False
    assert document["entity_ids"] == list(sim_admin.credentials(TENANT).entity_ids)
    assert json.loads(numeric_name.stdout)["customer_id"] == 2
    assert check_cli.snapshot() == before
    assert check_cli.coordination_is_empty()


def test_check_reports_rejected_credentials_when_they_are_revoked(
    check_cli: CheckCli, sim_admin: SimulatorAdmin
) -> None:
    check_cli.add(TENANT)
    sim_admin.revoke(TENANT)

    text = check_cli.check(TENANT)
    as_json = check_cli.check("1", "--json")

    _check_failed(
        text,
        "Check failed: Zuora rejected the client credentials (401 at POST /oauth/token, "
        "Zuora-Request-Id ",
        "check the client id and secret",
    )
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    assert set(document) == JSON_KEYS
    assert document["ok"] is False and document["problem"] == "credentials_rejected"
    assert document["status"] == 401 and document["failed_at"] == "POST /oauth/token"
    assert document["token"] == "not_issued" and document["request_id"] in document["message"]


def test_check_reports_missing_workflow_view_access_when_the_user_is_forbidden(
    check_cli: CheckCli, sim_admin: SimulatorAdmin
) -> None:
    check_cli.add(TENANT)
    sim_admin.forbid(TENANT)

    result = check_cli.check("1")
    document = json.loads(check_cli.check("1", "--json").stdout)

    _check_failed(
        result, "the Zuora user lacks Workflow View Access (403 at GET /workflows, Zuora-Request"
    )
    assert document["problem"] == "permission_denied" and document["token"] == "issued"


def test_check_reports_an_unreachable_host_when_the_customer_was_added_without_a_check(
    check_cli: CheckCli,
) -> None:
    port = _closed_port()
    added = check_cli.add_with(
        "offline", CLIENT_ID, "some-secret-1", "--no-check", base_url=f"http://127.0.0.1:{port}"
    )

    result = check_cli.check("offline")
    document = json.loads(check_cli.check("1", "--json").stdout)

    assert added.stdout == f"Customer 1 added: offline (http://127.0.0.1:{port})\n"
    _check_failed(result, f"Check failed: cannot reach 127.0.0.1:{port} (")
    assert document["problem"] == "unreachable" and document["status"] is None


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        ("9", "no customer with id or name '9'"),
        ("Tenant-001", "no customer with id or name 'Tenant-001'"),
    ],
)
def test_check_refuses_when_the_customer_does_not_exist(
    check_cli: CheckCli, reference: str, fragment: str
) -> None:
    check_cli.add(TENANT)

    assert_refused(check_cli.check(reference), fragment)


def test_add_lists_the_entities_and_adds_nothing_when_a_multi_entity_tenant_has_no_entity_id(
    check_cli: CheckCli, sim_admin: SimulatorAdmin
) -> None:
    check_cli.add(TENANT)
    entities = sim_admin.create_tenant("multi", workflows=2, entity_count=3)["entity_ids"]
    before = check_cli.snapshot()

    refused = check_cli.add("multi")

    _check_failed(
        refused,
        f"this tenant has several entities; add --entity-id with one of: {', '.join(entities)}",
        "nothing added (--no-check skips the check)",
    )
    assert check_cli.snapshot() == before
    added = check_cli.add("multi", "--entity-id", entities[2])
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith(
        f"Check passed: token issued, 2 workflows on the first page, entity {entities[2]}\n"
    )
    shown = json.loads(check_cli.cli("customers", "show", "2", "--json").stdout)
    assert shown["entity_id"] == entities[2]


@pytest.mark.parametrize("failure", ["wrong_secret", "revoked", "forbidden", "unreachable"])
def test_add_writes_nothing_when_the_check_fails(
    check_cli: CheckCli, sim_admin: SimulatorAdmin, failure: str
) -> None:
    check_cli.add("tenant-002")
    before = check_cli.snapshot()
    credentials = sim_admin.credentials(TENANT)
    secret, base_url = credentials.client_secret, credentials.base_url
    if failure == "wrong_secret":
        secret = "not-the-secret-at-all"
    elif failure == "unreachable":
        base_url = f"http://127.0.0.1:{_closed_port()}"
    elif failure == "revoked":
        sim_admin.revoke(TENANT)
    else:
        sim_admin.forbid(TENANT)

    result = check_cli.add_with("new", credentials.client_id, secret, base_url=base_url)

    _check_failed(result, "nothing added (--no-check skips the check)")
    assert check_cli.snapshot() == before


def test_add_creates_no_key_file_when_the_first_check_fails(
    check_cli: CheckCli, sim_admin: SimulatorAdmin
) -> None:
    sim_admin.revoke(TENANT)

    result = check_cli.add(TENANT)

    _check_failed(result, "401 at POST /oauth/token")
    assert not (check_cli.cli.home / "secret.key").exists()
    assert check_cli.snapshot()["customers"] == []


def test_add_refuses_a_taken_name_before_checking_when_the_name_exists(
    check_cli: CheckCli, sim_admin: SimulatorAdmin
) -> None:
    check_cli.add(TENANT)
    sim_admin.reset_stats()

    result = check_cli.add("tenant-002", name=TENANT)

    assert_refused(result, f"customer {TENANT!r} already exists")
    assert sim_admin.stats()["totals"]["requests"] == 0


def test_check_never_prints_or_logs_the_secret_or_the_token_when_it_runs(
    check_cli: CheckCli,
    sim_admin: SimulatorAdmin,
    simulator: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("ZWS_LOG_LEVEL", "debug")
    monkeypatch.setenv("ZWS_VERBOSE", "1")
    log_file = tmp_path / "check.log"
    monkeypatch.setenv("ZWS_LOG_FILE", str(log_file))
    secret = sim_admin.credentials(TENANT).client_secret
    results = [check_cli.add(TENANT), check_cli.check("1"), check_cli.check("1", "--json")]
    sim_admin.forbid(TENANT)
    results += [check_cli.check("1"), check_cli.check("1", "--json")]
    tokens = list(simulator.state.tokens)  # before revoking: that forgets the tenant's tokens
    sim_admin.revoke(TENANT)
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    results += [check_cli.check("1"), check_cli.add_with("x", "c", secret, base_url=unreachable)]

    assert len(tokens) == 5  # one per check: add, two passed, two refused listings
    assert [result.exit_code for result in results] == [0, 0, 0, 1, 1, 1, 1]
    texts = [text for result in results for text in (result.stdout, result.stderr)]
    texts.append(log_file.read_text(encoding="utf-8"))
    assert "credentials check of" in texts[-1]
    for text in texts:
        assert secret not in text
        for token in tokens:
            assert token not in text


def test_set_entity_checks_the_entity_then_stores_it_and_clears_the_attention(
    check_cli: CheckCli, sim_admin: SimulatorAdmin
) -> None:
    entities = sim_admin.create_tenant("multi", workflows=2, entity_count=3)["entity_ids"]
    added = check_cli.add("multi", "--no-check")  # as a tenant that became multi-entity would be
    assert added.exit_code == 0, added.output
    synced = CliRunner().invoke(sync_workflows_app, ["1", "--force", "--sync"])
    assert synced.exit_code == 1, synced.output  # Zuora wants an entity: the run failed
    shown = json.loads(check_cli.cli("customers", "show", "1", "--json").stdout)
    assert shown["attention_reason"].startswith("the tenant has several entities")
    before = check_cli.snapshot()

    refused = check_cli.cli("customers", "set-entity", "1", "00000000-0000-4000-8000-000000000000")
    _check_failed(refused, "nothing changed (--no-check skips the check)")
    assert check_cli.snapshot() == before
    assert_refused(check_cli.cli("customers", "set-entity", "1", "nope"), "must be a UUID")
    assert_refused(check_cli.cli("customers", "set-entity", "1"), "give an ENTITY_ID, or --none")
    assert check_cli.snapshot() == before

    changed = check_cli.cli("customers", "set-entity", "1", entities[1])

    assert changed.exit_code == 0, changed.output
    assert changed.stdout.splitlines() == [
        f"Check passed: token issued, 2 workflows on the first page, entity {entities[1]}",
        f"Entity id of customer 1 set to {entities[1]}: multi",
    ]
    shown = json.loads(check_cli.cli("customers", "show", "1", "--json").stdout)
    assert (shown["entity_id"], shown["attention_reason"]) == (entities[1], None)
    cleared = check_cli.cli("customers", "set-entity", "1", "--none", "--no-check")
    assert cleared.stdout == "Entity id of customer 1 cleared: multi\n"
    assert json.loads(check_cli.cli("customers", "show", "1", "--json").stdout)["entity_id"] is None
