"""Bad encryption keys are the operator's problem: a lost key file is never silently replaced,
a wrong, malformed or garbage key is said plainly every time and never counts against the
customer or opens its circuit, and `keys rotate` refuses a key saved nowhere."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from tests.backends import Backend
from tests.bad_inputs.conftest import Cli, assert_one_line, assert_refused, run_command
from tests.cli.conftest import SECRET
from tests.webhooks import webhook_receiver
from zuora_workflow_sync.domain.circuit import CircuitPolicy
from zuora_workflow_sync.domain.models import OutcomeStatus, RunRequest, RunTrigger
from zuora_workflow_sync.runtime import Runtime, build_runtime
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.simulator import SimulatorAdmin
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.engine import writing
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.store.tables import AlertRow
from zuora_workflow_sync.sync.job import execute_run

OPERATOR = "for the operator to fix (not counted against the customer)"
TENANT = "tenant-001"


def _tokens(cli: Cli) -> list[str]:
    engine = cli.engine()
    try:
        return [c.client_secret_encrypted for c in CustomerRepository(engine).list(limit=100)]
    finally:
        engine.dispose()


def test_add_refuses_to_make_a_new_key_when_the_key_file_is_gone_and_secrets_are_stored(
    cli: Cli,
) -> None:
    cli.add("acme")
    key_file = cli.home / "secret.key"
    key_file.unlink()
    before = cli.dump()

    result = cli(
        "customers",
        "add",
        "--name",
        "globex",
        "--environment",
        "us-sandbox",
        "--client-id",
        "00000000-0000-4000-8000-000000000002",
        "--no-check",
        input=SECRET + "\n",
    )

    assert_refused(result, f"the key file {key_file} does not exist", "ZWS_SECRET_KEYS")
    assert not key_file.exists()
    assert cli.dump() == before


def test_sync_refuses_to_make_a_new_key_when_the_key_file_is_gone_and_secrets_are_stored(
    cli: Cli,
) -> None:
    cli.add("acme")
    key_file = cli.home / "secret.key"
    key_file.unlink()
    before = cli.dump()

    done = run_command("sync-workflows", "1", "--force", "--sync", home=cli.home)

    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [f"Sync failed: {_missing_line(key_file)}"], done.stderr
    assert not key_file.exists()
    assert cli.dump() == before


def _missing_line(key_file: Path) -> str:
    from zuora_workflow_sync.runtime import missing_key_file

    return missing_key_file(key_file)


def test_first_add_still_creates_the_key_file_when_nothing_is_stored(cli: Cli) -> None:
    cli.add("acme")
    key_file = cli.home / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_rotate_refuses_when_the_new_key_is_saved_nowhere(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.add("acme")
    old_key = (cli.home / "secret.key").read_text(encoding="ascii").strip()
    new_key = Keyring.generate_key()
    monkeypatch.setenv("ZWS_SECRET_KEYS", f"{new_key},{old_key}")
    before = cli.dump()

    result = cli("keys", "rotate")

    assert_refused(result, "refusing to rotate", "saved nowhere", "--env-keys-saved")
    assert new_key not in result.stderr and old_key not in result.stderr
    assert cli.dump() == before


def test_rotate_reencrypts_when_the_new_key_is_first_in_the_key_file(cli: Cli) -> None:
    cli.add("acme")
    key_file = cli.home / "secret.key"
    old_key = key_file.read_text(encoding="ascii").strip()
    new_key = Keyring.generate_key()
    key_file.write_text(f"{new_key}\n{old_key}\n", encoding="ascii")

    result = cli("keys", "rotate")

    assert result.exit_code == 0, result.output
    (token,) = _tokens(cli)
    assert Keyring([new_key]).decrypt(token).get_secret_value() == SECRET


def test_rotate_accepts_env_keys_when_the_key_file_holds_the_same_newest_key(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.add("acme")
    key_file = cli.home / "secret.key"
    old_key = key_file.read_text(encoding="ascii").strip()
    new_key = Keyring.generate_key()
    key_file.write_text(f"{new_key}\n{old_key}\n", encoding="ascii")
    monkeypatch.setenv("ZWS_SECRET_KEYS", f"{new_key},{old_key}")

    assert cli("keys", "rotate").exit_code == 0
    (token,) = _tokens(cli)
    assert Keyring([new_key]).decrypt(token).get_secret_value() == SECRET


# A key problem on the worker's side: the customer was added with the right key, the worker
# runs with a bad one. Four runs, with a circuit threshold of three.

GOOD_KEY = Keyring.generate_key()


def _settings(home: Path, backend: Backend, **values: Any) -> Settings:
    fields: dict[str, Any] = {
        "home": home,
        "http_max_attempts": 1,
        "retry_base_seconds": 0,
        "circuit_failure_threshold": 3,
        "log_json": True,
        **backend.settings_fields,
        **values,
    }
    return Settings(**fields)


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[str]]]:
    with webhook_receiver() as hook:
        yield hook


@pytest.fixture
def customer_id(tmp_path: Path, backend: Backend, sim_admin: SimulatorAdmin) -> int:
    """A customer of the simulator whose secret is encrypted with GOOD_KEY."""
    credentials = sim_admin.credentials(TENANT)
    settings = _settings(tmp_path, backend, secret_keys=SecretStr(GOOD_KEY))
    with build_runtime(settings) as runtime:
        return runtime.customers.add(
            "acme",
            zuora_base_url=credentials.base_url,
            client_id=credentials.client_id,
            client_secret_encrypted=runtime.keyring.encrypt(SecretStr(credentials.client_secret)),
        ).id


def _bad_keys(kind: str, home: Path) -> dict[str, Any]:
    if kind == "wrong-key":
        return {"secret_keys": SecretStr(Keyring.generate_key())}
    if kind == "not-a-key":
        return {"secret_keys": SecretStr("notakey")}
    key_file = home / "garbage.key"
    key_file.write_text("this is no Fernet key\n", encoding="ascii")
    key_file.chmod(0o600)
    return {"key_file": key_file}


def _run_once(runtime: Runtime, customer_id: int) -> tuple[OutcomeStatus, str | None]:
    (recorded,) = runtime.ledger.record_batch(
        [RunRequest(customer_id, datetime.now(UTC))],
        queue="workflows",
        trigger=RunTrigger.COMMAND,
        dispatched_by="test",
        max_attempts=3,
    ).recorded
    requeued: list[int] = []
    outcome = execute_run(
        runtime, recorded.run_id, worker_id="w", requeue=lambda r, d: requeued.append(r)
    )
    assert not requeued, "a key problem is not retried: it cannot pass by itself"
    run = runtime.ledger.get(recorded.run_id)
    assert run is not None
    return outcome.status, run.error_message


@pytest.mark.parametrize("kind", ["wrong-key", "not-a-key", "garbage-key-file"])
def test_key_problem_fails_each_run_plainly_and_never_opens_the_circuit_when_worker_keys_are_bad(
    tmp_path: Path,
    backend: Backend,
    customer_id: int,
    webhook: tuple[str, list[str]],
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, received = webhook
    settings = _settings(
        tmp_path, backend, alert_webhook_url=SecretStr(url), **_bad_keys(kind, tmp_path)
    )
    with build_runtime(settings) as runtime, caplog.at_level(logging.ERROR):
        outcomes = [_run_once(runtime, customer_id) for _ in range(4)]
        customer = runtime.customers.get(customer_id)
        with runtime.engine.connect() as conn:
            alerts = conn.execute(select(AlertRow.id)).all()

    for status, error in outcomes:
        assert status is OutcomeStatus.FAILED
        assert error is not None and error.startswith("encryption key problem, " + OPERATOR)
    assert customer is not None
    assert customer.consecutive_failures == 0 and customer.circuit.is_closed
    assert alerts == [] and received == []
    logged = [r for r in caplog.records if getattr(r, "event", None) == "key_problem"]
    assert len(logged) == 4


def _open_circuit(home: Path, backend: Backend, customer_id: int) -> None:
    settings = _settings(home, backend, secret_keys=SecretStr(GOOD_KEY))
    with build_runtime(settings) as runtime, writing(runtime.engine) as conn:
        runtime.customers.record_failure(
            conn, customer_id, CircuitPolicy(3, 600.0, 3600.0), datetime.now(UTC), hold=True
        )


@pytest.mark.parametrize("one_customer", [True, False], ids=["one", "all"])
def test_sync_reports_a_malformed_key_when_the_customers_circuit_is_open(
    tmp_path: Path, backend: Backend, customer_id: int, one_customer: bool
) -> None:
    _open_circuit(tmp_path, backend, customer_id)
    args = [str(customer_id)] if one_customer else []
    env = {**backend.env, "ZWS_SECRET_KEYS": "notakey"}

    done = run_command("sync-workflows", *args, "--force", "--sync", home=tmp_path, env=env)

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.splitlines() == [
        "Sync failed: encryption key #1 is not a valid Fernet key "
        "(32 url-safe base64-encoded bytes)"
    ], done.stderr
    with build_runtime(_settings(tmp_path, backend, secret_keys=SecretStr(GOOD_KEY))) as runtime:
        assert runtime.ledger.list_runs() == []


def test_scheduler_once_reports_a_malformed_key_in_one_line_when_secrets_are_stored(
    cli: Cli,
) -> None:
    cli.add("acme")
    before = cli.dump()

    done = run_command(
        "workflow-sync", "scheduler", "--once", home=cli.home, env={"ZWS_SECRET_KEYS": "notakey"}
    )

    assert_one_line(done, "encryption key #1 is not a valid Fernet key")
    # Only the scheduler's own lease was taken; no run, no customer changed.
    assert [line for line in cli.dump() if not line.startswith('INSERT INTO "leases"')] == before


def test_set_secret_makes_a_new_key_when_the_key_file_is_gone_and_no_other_secret_is_stored(
    cli: Cli,
) -> None:
    cli.add("acme")
    key_file = cli.home / "secret.key"
    key_file.unlink()

    result = cli("customers", "set-secret", "1", input="a-new-secret\n")

    assert result.exit_code == 0, result.output
    assert key_file.stat().st_mode & 0o777 == 0o600
    (token,) = _tokens(cli)
    key = key_file.read_text(encoding="ascii").strip()
    assert Keyring([key]).decrypt(token).get_secret_value() == "a-new-secret"
