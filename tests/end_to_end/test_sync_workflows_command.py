"""`sync-workflows` as an operator runs it: messages, exit codes, the ledger, the queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from zuora_workflow_sync.domain.models import CustomerStatus, RunStatus
from zuora_workflow_sync.queue import open_queue
from zuora_workflow_sync.store.tables import CustomerRow

from .conftest import Installation


def _set_last_synced(install: Installation, customer_id: int, when: datetime) -> None:
    with install.runtime.engine.begin() as conn:
        conn.execute(
            update(CustomerRow).where(CustomerRow.id == customer_id).values(last_synced_at=when)
        )


def _scheduled(install: Installation, queue: str = "workflows") -> int:
    job_queue = open_queue(install.backend.queue_url, queue)
    try:
        return job_queue.scheduled_count() + job_queue.pending_count()
    finally:
        job_queue.close()


def test_one_customer_is_dispatched_with_the_specification_messages(
    install: Installation,
) -> None:
    customer = install.add_customer("tenant-001", "Acme Corporation")
    done = install.run("sync-workflows", str(customer.id))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Syncing workflows for customer: Acme Corporation",
        "Sync job dispatched for customer: Acme Corporation",
    ]
    runs = install.runtime.ledger.list_runs(customer_id=customer.id)
    assert [(r.status, r.queue) for r in runs] == [(RunStatus.QUEUED, "workflows")]
    assert (runs[0].not_before_at - runs[0].dispatched_at).total_seconds() < 1.0
    assert _scheduled(install) == 1


def test_recently_synced_customer_is_not_dispatched_without_force(
    install: Installation,
) -> None:
    customer = install.add_customer("tenant-001", "Acme Corporation")
    _set_last_synced(install, customer.id, datetime.now(UTC) - timedelta(minutes=30))
    done = install.run("sync-workflows", str(customer.id))
    assert done.returncode == 0
    assert done.stdout.strip() == (
        "Customer Acme Corporation was synced recently. Use --force to override."
    )
    assert install.runtime.ledger.list_runs(customer_id=customer.id) == []
    forced = install.run("sync-workflows", str(customer.id), "--force")
    assert forced.returncode == 0
    assert forced.stdout.splitlines()[-1] == "Sync job dispatched for customer: Acme Corporation"


def test_all_due_active_customers_are_dispatched_with_stagger(install: Installation) -> None:
    ids = [install.add_customer(f"tenant-00{n}", f"Customer {n}").id for n in (1, 2, 3, 4)]
    install.runtime.customers.set_status(ids[1], CustomerStatus.PAUSED)
    _set_last_synced(install, ids[2], datetime.now(UTC) - timedelta(minutes=5))
    _set_last_synced(install, ids[3], datetime.now(UTC) - timedelta(hours=2))

    done = install.run("sync-workflows")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Dispatching sync jobs for 2 customers",
        "Sync jobs dispatched for 2 customers",
    ]
    runs = install.runtime.ledger.list_runs()
    assert sorted(r.customer_id for r in runs) == [ids[0], ids[3]]
    for run in runs:
        delay = (run.not_before_at - run.dispatched_at).total_seconds()
        assert 0.9 <= delay <= 60.1
    assert _scheduled(install) == 2


def test_force_dispatches_every_active_customer_but_one_run_each(install: Installation) -> None:
    ids = [install.add_customer(f"tenant-00{n}", f"Customer {n}").id for n in (1, 2, 3)]
    _set_last_synced(install, ids[0], datetime.now(UTC) - timedelta(minutes=5))
    first = install.run("sync-workflows", "--force")
    assert first.stdout.splitlines()[-1] == "Sync jobs dispatched for 3 customers"
    second = install.run("sync-workflows", "--force")
    assert second.returncode == 0
    assert second.stdout.splitlines() == [
        "Dispatching sync jobs for 3 customers",
        "Skipped 3 customers that already have a sync queued or running",
        "Sync jobs dispatched for 0 customers",
    ]
    assert len(install.runtime.ledger.list_runs()) == 3
    assert _scheduled(install) == 3


def test_no_customers_need_syncing_when_all_are_recent(install: Installation) -> None:
    customer = install.add_customer("tenant-001", "Acme Corporation")
    _set_last_synced(install, customer.id, datetime.now(UTC))
    done = install.run("sync-workflows")
    assert (done.returncode, done.stdout.strip()) == (0, "No customers need syncing.")


@pytest.mark.parametrize(
    ("argument", "reason"),
    [
        ("999", "no customer with id 999"),
        ("abc", "invalid customer id 'abc': expected a positive integer"),
        ("-1", "No such option"),
        ("0", "invalid customer id '0': expected a positive integer"),
        ("99999999999999999999", "expected a positive integer"),
    ],
)
def test_bad_customer_id_fails_with_one_line_and_dispatches_nothing(
    install: Installation, argument: str, reason: str
) -> None:
    install.add_customer("tenant-001", "Acme Corporation")
    done = install.run("sync-workflows", argument)
    assert done.returncode != 0
    assert reason in done.stderr
    assert done.stdout == ""
    assert install.runtime.ledger.list_runs() == []
    if argument != "-1":  # Typer's own usage error for an option-looking argument
        assert done.returncode == 1
        assert done.stderr.splitlines() == [f"Sync failed: {reason}"] or (
            len(done.stderr.splitlines()) == 1 and reason in done.stderr
        )
        logged = install.log_entries()
        assert any(
            entry["message"] == "Workflow sync command failed" and entry["customer_id"] == argument
            for entry in logged
        )


def test_queue_unavailable_falls_back_to_inline_sync(install: Installation) -> None:
    customer = install.add_customer("tenant-001", "Acme Corporation")
    install.env["ZWS_QUEUE_URL"] = install.backend.unreachable_queue_url
    done = install.run("sync-workflows", str(customer.id))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Syncing workflows for customer: Acme Corporation"
    assert lines[1].startswith("Queue unavailable (") and lines[1].endswith(
        "); running sync inline"
    )
    runs = install.runtime.ledger.list_runs(customer_id=customer.id)
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED]
    stored = install.runtime.customers.get(customer.id)
    assert stored is not None and stored.last_synced_at is not None


def test_queue_unavailable_fails_when_fallback_is_off(install: Installation) -> None:
    customer = install.add_customer("tenant-001", "Acme Corporation")
    install.env["ZWS_QUEUE_URL"] = install.backend.unreachable_queue_url
    done = install.run("sync-workflows", str(customer.id), "--no-fallback")
    assert done.returncode == 1
    assert "Sync failed: queue unavailable" in done.stderr.splitlines()
    runs = install.runtime.ledger.list_runs(customer_id=customer.id)
    assert [r.status for r in runs] == [RunStatus.ABANDONED]
    assert runs[0].error_message is not None and "queue unavailable" in runs[0].error_message
    stored = install.runtime.customers.get(customer.id)
    assert stored is not None and stored.consecutive_failures == 0


def test_sync_flag_runs_in_process_and_prints_a_summary(install: Installation) -> None:
    customer = install.add_customer("tenant-002", "Globex")
    done = install.run("sync-workflows", str(customer.id), "--sync")
    assert done.returncode == 0, done.stderr
    assert "Sync summary" in done.stdout and "succeeded" in done.stdout
    assert _scheduled(install) == 0
    runs = install.runtime.ledger.list_runs(customer_id=customer.id)
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED]


def test_dry_run_explains_every_customer_and_dispatches_nothing(install: Installation) -> None:
    ids = [install.add_customer(f"tenant-00{n}", f"Customer {n}").id for n in (1, 2, 3)]
    install.runtime.customers.set_status(ids[1], CustomerStatus.DISABLED)
    _set_last_synced(install, ids[2], datetime.now(UTC))
    done = install.run("sync-workflows", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    lines = {item["customer_id"]: item for item in json.loads(done.stdout)}
    assert lines[ids[0]]["action"] == "dispatch" and lines[ids[0]]["reason"] == "never synced"
    assert lines[ids[1]]["reason"] == "sync status is disabled"
    assert lines[ids[2]]["reason"].startswith("synced recently")
    assert install.runtime.ledger.list_runs() == []
    assert _scheduled(install) == 0


def test_json_result_is_machine_readable(install: Installation) -> None:
    customer = install.add_customer("tenant-001", "Acme Corporation")
    done = install.run("sync-workflows", "--json")
    result = json.loads(done.stdout)
    assert result["dispatched"] == 1
    assert result["queued"][0]["customer_id"] == customer.id
    assert result["messages"] == [
        "Dispatching sync jobs for 1 customers",
        "Sync jobs dispatched for 1 customers",
    ]


def test_help_explains_every_option(install: Installation) -> None:
    done = install.run("sync-workflows", "--help")
    for option in (
        "--force",
        "--queue",
        "--dry-run",
        "--sync",
        "--json",
        "--full",
        "--no-fallback",
    ):
        assert option in done.stdout
