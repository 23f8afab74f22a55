"""`LeaseHeartbeat`: renews the leases of the runs one process holds, on a thread of its own.

A run's lease is short (`ZWS_LEASE_SECONDS`, 30 s by default) and renewed every
`ZWS_HEARTBEAT_SECONDS` (a third of it) while its job is alive, for every run of the process
in one UPDATE, off the jobs' event loops. A lost worker's runs are therefore free within a
lease however long a sync takes. A renewal that finds a run lost (reclaimed after a pause, or
released) marks it `lost`, which stops its job at once; what the job would still write is
refused by the fence anyway. On a hard stop the process gives its leases back
(`give_back`), so other workers reclaim its runs at once rather than after a lease.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from zuora_workflow_sync.domain.models import ClaimedRun
from zuora_workflow_sync.errors import WorkflowSyncError
from zuora_workflow_sync.store.runs import SyncRunLedger

logger = logging.getLogger(__name__)

Requeue = Callable[[int, float], None]


@dataclass(eq=False)
class HeldRun:
    """One run this process holds: its fencing token, how to send it round again, its state."""

    run_id: int
    attempt: int
    requeue: Requeue
    lost: threading.Event = field(default_factory=threading.Event)
    renewals: int = 0
    ending: bool = False  # its job is writing its end: a renewal refused is no surprise
    given_back: bool = False  # released by a hard stop, and sent round again

    @property
    def key(self) -> tuple[int, int]:
        return self.run_id, self.attempt


class LeaseHeartbeat:
    """The runs one process holds, renewed every `interval_seconds`; `close` when done."""

    def __init__(
        self, ledger: SyncRunLedger, *, lease_seconds: float, interval_seconds: float
    ) -> None:
        if not 0 < interval_seconds < lease_seconds:
            raise ValueError("the heartbeat interval must be positive and shorter than the lease")
        self.lease_seconds = lease_seconds
        self.interval_seconds = interval_seconds
        self._ledger = ledger
        self._lock = threading.Lock()
        self._held: dict[tuple[int, int], HeldRun] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, claimed: ClaimedRun, requeue: Requeue) -> HeldRun:
        """Renew `claimed`'s lease from now on, until `drop`; starts the thread on first use."""
        held = HeldRun(claimed.run_id, claimed.attempt, requeue)
        with self._lock:
            self._held[held.key] = held
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._beat_until_stopped, name="zws-heartbeat", daemon=True
                )
                self._thread.start()
        return held

    def drop(self, held: HeldRun) -> None:
        """Stop renewing `held` (its job ended)."""
        with self._lock:
            self._held.pop(held.key, None)

    def held(self) -> list[HeldRun]:
        with self._lock:
            return list(self._held.values())

    def beat(self) -> None:
        """Renew every held lease once; mark the runs found lost (a database error is logged
        and the next beat tries again: the lease lasts several beats)."""
        held = self.held()
        if not held:
            return
        try:
            renewed = self._ledger.renew_many([run.key for run in held], self.lease_seconds)
        except SQLAlchemyError as exc:
            logger.warning(
                "could not renew the leases of %d runs (%s); retrying in %.0f s",
                len(held),
                type(exc).__name__,
                self.interval_seconds,
            )
            return
        for run in held:
            if run.key in renewed:
                run.renewals += 1
            else:
                self._lost(run)

    def give_back(self) -> list[int]:
        """Release every held lease and send each run round again (a hard stop, best effort):
        the run ids given back. Their jobs are told they lost them."""
        self._stop.set()
        given: list[int] = []
        for run in self.held():
            run.ending = True
            try:
                if self._ledger.release(run.run_id, run.attempt):
                    run.given_back = True
                    run.requeue(run.run_id, 0.0)
                    given.append(run.run_id)
            except (SQLAlchemyError, WorkflowSyncError) as exc:  # its lease will expire
                logger.warning("run %s: could not give its lease back (%s)", run.run_id, exc)
            run.lost.set()
        return given

    def close(self) -> None:
        """Stop the thread; the leases still held simply expire."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _beat_until_stopped(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.beat()
            except Exception:  # the heartbeat must outlive any one failure
                logger.exception("lease heartbeat failed; retrying")

    def _lost(self, run: HeldRun) -> None:
        with self._lock:
            still_held = self._held.get(run.key) is run
        if still_held and not run.ending:
            logger.warning(
                "run %s attempt %s: the lease renewal found it lost; stopping its job",
                run.run_id,
                run.attempt,
                extra={"event": "lease_lost", "run_id": run.run_id},
            )
        run.lost.set()
