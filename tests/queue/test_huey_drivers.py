"""Huey imported without the drivers it does not need (`queue/huey_drivers.py`), each case in a
fresh interpreter: a SQLite queue's process never loads redis-py or psycopg, and a Redis queue
opened after such an import works end to end (enqueue, an empty blocking dequeue, a job read
back, an unreachable server as QueueUnavailableError): a Huey that renamed the names lent to it
fails here."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.backends import UNREACHABLE_REDIS_URL

PRELUDE = """
import json, sys
from zuora_workflow_sync.queue import open_queue, QueueUnavailableError
"""


def run_python(body: str, prelude: str = PRELUDE) -> dict[str, object]:
    script = prelude + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_sqlite_queue_runs_its_jobs_without_importing_redis_or_psycopg(tmp_path: Path) -> None:
    result = run_python(
        f"""
        queue = open_queue("sqlite:///{tmp_path / "queue.sqlite3"}", "default")
        queue.enqueue(7)
        pending = queue.pending_count()
        task = queue.huey.dequeue()
        print(json.dumps({{
            "pending": pending,
            "args": list(task.args),
            "loaded": sorted(m for m in ("redis", "psycopg") if m in sys.modules),
        }}))
        """
    )
    assert result == {"pending": 1, "args": [7], "loaded": []}


@pytest.mark.redis
def test_a_redis_queue_works_when_huey_was_imported_without_redis(queue_redis_url: str) -> None:
    result = run_python(
        f"""
        loaded_before = "redis" in sys.modules
        queue = open_queue({queue_redis_url!r}, "lent")
        empty = queue.huey.dequeue()  # a blocking read that times out: Huey's except clause
        queue.enqueue(11)
        pending = queue.pending_count()
        task = queue.huey.dequeue()
        try:
            open_queue({UNREACHABLE_REDIS_URL!r}, "lent").enqueue(12)
            unreachable = "enqueued"
        except QueueUnavailableError as exc:
            unreachable = type(exc).__name__
        print(json.dumps({{
            "loaded_before": loaded_before,
            "empty": empty is None,
            "pending": pending,
            "args": list(task.args),
            "unreachable": unreachable,
        }}))
        """
    )
    assert result == {
        "loaded_before": False,
        "empty": True,
        "pending": 1,
        "args": [11],
        "unreachable": "QueueUnavailableError",
    }


def test_huey_keeps_its_own_redis_names_when_redis_was_imported_first() -> None:
    result = run_python(
        """
        import huey.storage
        print(json.dumps({"same": huey.storage.RedisStorage.redis_client is redis.Redis}))
        """,
        prelude="import json, redis\nimport zuora_workflow_sync.queue\n",
    )
    assert result == {"same": True}


def test_only_the_thread_importing_huey_is_refused_the_drivers() -> None:
    result = run_python(
        """
        import threading
        from zuora_workflow_sync.queue.huey_drivers import _HoldOut
        sys.meta_path.insert(0, _HoldOut(["redis"]))
        try:
            import redis
            here = "imported"
        except ModuleNotFoundError:
            here = "refused"
        other: list[str] = []
        thread = threading.Thread(target=lambda: other.append(__import__("redis").__name__))
        thread.start()
        thread.join()
        print(json.dumps({"other_thread": other, "this_thread": here}))
        """,
        prelude="import json, sys\n",
    )
    assert result == {"other_thread": ["redis"], "this_thread": "refused"}
