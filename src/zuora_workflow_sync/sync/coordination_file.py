"""`CoordinationFile`: the connections to the embedded coordination file that a `JobSession`
keeps from one job to the next (the pacing store and the token store), as it keeps its Redis
client when coordination is on Redis.

Opened per job, they cost a thread, two connections, WAL set-up and a `BEGIN IMMEDIATE` on the
file every process of the machine writes (~1.5 ms of CPU uncontended, more while other workers
pace). Kept, they must still follow the file: should it be deleted or replaced (an operator
resetting the machine's pacing state), a kept connection would go on writing to the old inode
while new processes share the new file. So before each job the file's identity (device and
inode) is checked, a `stat` call, and the connections are reopened when it changed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable

from zuora_workflow_sync.coordination.connect import CoordinationTarget
from zuora_workflow_sync.coordination.token_backends import SqliteTokenBackend
from zuora_workflow_sync.pacing.sqlite_store import SqlitePacingStore

logger = logging.getLogger(__name__)

FileIdentity = tuple[int, int]


class CoordinationFile:
    """The session's pacing and token stores on one coordination file; `aclose` when done."""

    def __init__(self, target: CoordinationTarget) -> None:
        if target.kind != "sqlite":
            raise ValueError("only a sqlite coordination store is a file")
        self._target = target
        self._pacing: SqlitePacingStore | None = None
        self._tokens: SqliteTokenBackend | None = None
        self._identity: FileIdentity | None = None

    async def stores(self) -> tuple[SqlitePacingStore, SqliteTokenBackend]:
        """The open stores, reopened first if the file is not the one they were opened on."""
        if self._pacing is not None and self._identity != self._current_identity():
            logger.info("coordination file %r was replaced; reopening it", self._target)
            await self.aclose()
        if self._pacing is None or self._tokens is None:
            self._pacing = await SqlitePacingStore.open(self._target)
            self._tokens = SqliteTokenBackend(self._target)
            self._identity = self._current_identity()
        return self._pacing, self._tokens

    async def aclose(self) -> None:
        """Close both stores (a store that fails to close is dropped, with a debug log)."""
        pacing, self._pacing = self._pacing, None
        tokens, self._tokens = self._tokens, None
        self._identity = None
        closing: list[Awaitable[None]] = []
        if pacing is not None:
            closing.append(pacing.aclose())
        if tokens is not None:
            closing.append(tokens.close())
        for failure in await asyncio.gather(*closing, return_exceptions=True):
            if isinstance(failure, BaseException):
                logger.debug("closing a coordination file store failed: %r", failure)

    def _current_identity(self) -> FileIdentity | None:
        try:
            status = os.stat(self._target.path)
        except OSError:
            return None
        return status.st_dev, status.st_ino
