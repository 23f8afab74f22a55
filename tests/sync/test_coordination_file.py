"""`CoordinationFile`: a session's stores on the embedded coordination file are kept from job to
job, and reopened when the file is deleted or replaced, so every process paces on one file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from zuora_workflow_sync.coordination.connect import parse_coordination_url
from zuora_workflow_sync.pacing.store import QuotaWindow, SlotRequest
from zuora_workflow_sync.sync.coordination_file import CoordinationFile


def _request(token: str) -> SlotRequest:
    return SlotRequest(
        key="customer:1",
        token=token,
        max_in_flight=4,
        windows=(QuotaWindow(60.0, 1000),),
        slot_ttl_seconds=30.0,
    )


def _slots_in(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (count,) = db.execute("SELECT count(*) FROM pacing_slots").fetchone()
    return int(count)


def test_stores_are_kept_while_the_file_stays_the_same(tmp_path: Path) -> None:
    path = tmp_path / "coordination.sqlite3"
    kept = CoordinationFile(parse_coordination_url(f"sqlite:///{path}"))

    async def twice() -> bool:
        try:
            first, second = await kept.stores(), await kept.stores()
            return first[0] is second[0] and first[1] is second[1]
        finally:
            await kept.aclose()

    assert asyncio.run(twice())


def test_stores_follow_the_file_when_it_is_deleted_between_jobs(tmp_path: Path) -> None:
    path = tmp_path / "coordination.sqlite3"
    kept = CoordinationFile(parse_coordination_url(f"sqlite:///{path}"))

    async def around_a_deletion() -> bool:
        try:
            old_pacing, _ = await kept.stores()
            assert (await old_pacing.try_acquire(_request("a"))).granted
            for leftover in tmp_path.glob("coordination.sqlite3*"):
                leftover.unlink()  # the file, its WAL and shared memory
            new_pacing, new_tokens = await kept.stores()
            assert (await new_pacing.try_acquire(_request("b"))).granted
            await new_tokens.save("entry", "sealed", expires_at=4e9, now=0.0)
            return new_pacing is not old_pacing
        finally:
            await kept.aclose()

    assert asyncio.run(around_a_deletion())
    # The slot and the token went to the file other processes now open, not the deleted one.
    assert _slots_in(path) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM token_cache").fetchall() == [("entry",)]
