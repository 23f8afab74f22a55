"""`open_queue` and `JobQueue`: storage by URL, names, counts, and failures as short reasons."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.queue.conftest import QueueFactory
from zuora_workflow_sync.errors import ConfigurationError, WorkflowSyncError
from zuora_workflow_sync.queue import QueueUnavailableError, open_queue
from zuora_workflow_sync.queue.app import redact_url


@pytest.mark.parametrize("name", ["", "x" * 65, "two words", "a/b", "caf\u00e9", "q;drop"])
def test_open_queue_refuses_when_name_is_invalid(queue_url: str, name: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid queue name"):
        open_queue(queue_url, name)


@pytest.mark.parametrize("name", ["a", "x" * 64, "work-flows.v2_EU"])
def test_open_queue_accepts_when_name_is_valid(make_queue: QueueFactory, name: str) -> None:
    assert make_queue(name).name == name


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:pw-secret@db/zws",
        "queue.sqlite3",
        "amqp://guest:pw-secret@rabbit//",
        "sqlite://relative-without-third-slash",
        "sqlite:///:memory:",
        "sqlite:///",
    ],
)
def test_open_queue_refuses_when_url_is_not_sqlite_or_redis(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_queue(url, "jobs")

    assert "pw-secret" not in str(caught.value)


def test_open_queue_creates_parent_folders_when_they_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "queue.sqlite3"

    queue = open_queue(f"sqlite:///{path}", "jobs")
    queue.close()

    assert path.is_file()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/proc/zws-queue-test/queue.sqlite3", "No such file or directory: /proc/zws-queue-test"),
        ("/proc/queue.sqlite3", "unable to open database file"),
    ],
)
def test_open_queue_raises_unavailable_with_short_reason_when_root_is_unusable(
    path: str, reason: str
) -> None:
    with pytest.raises(QueueUnavailableError) as caught:
        open_queue(f"sqlite:///{path}", "jobs")

    assert caught.value.reason == reason == str(caught.value)
    assert caught.value.queue == "jobs"
    assert isinstance(caught.value, WorkflowSyncError)


def test_open_queue_raises_unavailable_when_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("not a folder")

    with pytest.raises(QueueUnavailableError, match=r"^File exists: .*plain-file$"):
        open_queue(f"sqlite:///{tmp_path / 'plain-file' / 'queue.sqlite3'}", "jobs")


def test_enqueue_raises_unavailable_when_storage_breaks_after_opening(
    make_queue: QueueFactory, tmp_path: Path
) -> None:
    queue = make_queue("jobs")
    queue.close()
    path = tmp_path / "queues" / "queue.sqlite3"
    for leftover in path.parent.iterdir():
        leftover.unlink()
    path.mkdir()  # the file is now a folder: every later connection fails

    with pytest.raises(QueueUnavailableError, match="unable to open database file"):
        queue.enqueue(1)
    with pytest.raises(QueueUnavailableError):
        queue.ping()


def test_counts_follow_enqueue_when_jobs_are_immediate_or_delayed(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue("jobs")
    queue.ping()

    queue.enqueue(1)
    queue.enqueue_many([(2, 0.0), (3, 60.0)])

    # enqueue_many puts a delayed job straight into the schedule (enqueue leaves that to a worker).
    assert (queue.pending_count(), queue.scheduled_count()) == (2, 1)


def test_queues_stay_separate_when_they_share_one_file(make_queue: QueueFactory) -> None:
    first, second = make_queue("first"), make_queue("second")

    first.enqueue(1)

    assert (first.pending_count(), second.pending_count()) == (1, 0)


@pytest.mark.parametrize(
    ("run_id", "delay"),
    [(0, 0.0), (-3, 0.0), (True, 0.0), ("7", 0.0), (7, -1.0), (7, math.inf), (7, math.nan)],
)
def test_enqueue_refuses_when_run_id_or_delay_is_invalid(
    make_queue: QueueFactory, run_id: object, delay: float
) -> None:
    queue = make_queue("jobs")

    with pytest.raises(ValueError):
        queue.enqueue(run_id, delay)  # type: ignore[arg-type]

    assert queue.pending_count() == 0


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://***@cache:6379/0"),
        ("rediss://user:s3cret@cache/1", "rediss://***@cache/1"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("sqlite:///var/queue.sqlite3", "sqlite:///var/queue.sqlite3"),
    ],
)
def test_redact_url_hides_credentials_when_url_has_them(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_repr_hides_password_when_url_has_one() -> None:
    pytest.importorskip("redis")
    queue = open_queue("redis://:s3cret@127.0.0.1:1/0", "jobs")

    assert "s3cret" not in repr(queue)
    queue.close()


def test_unavailable_reason_is_short_and_hides_password_when_redis_refuses() -> None:
    pytest.importorskip("redis")
    queue = open_queue("redis://:s3cret@127.0.0.1:1/0", "jobs")

    with pytest.raises(QueueUnavailableError) as caught:
        queue.enqueue(1)
    queue.close()

    assert "s3cret" not in str(caught.value)
    assert caught.value.reason.startswith("Error 111 connecting to 127.0.0.1:1.")
    assert len(caught.value.reason) < 120


def test_enqueue_only_queue_logs_refusal_when_a_job_reaches_it(
    make_queue: QueueFactory, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue("jobs")
    queue.enqueue(9)
    task = queue.huey.dequeue()

    task.execute()

    (record,) = [r for r in caplog.records if r.name == "zuora_workflow_sync.queue.app"]
    assert record.exc_info is not None and "enqueue only" in str(record.exc_info[1])
