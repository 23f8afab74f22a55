"""What one worker process does in the cross-process single-flight test (run with spawn)."""

from __future__ import annotations

import asyncio
import os
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from pydantic import SecretStr

from zuora_workflow_sync.coordination.connect import parse_coordination_url
from zuora_workflow_sync.coordination.tokens import shared_tokens
from zuora_workflow_sync.store.secrets import Keyring
from zuora_workflow_sync.zuora.auth import SharedToken

KEY = ("https://rest.test.zuora.com", "client-in-processes", "fingerprint")


def obtain_once(url: str, key: str, go: Event, results: Queue[tuple[str, bool, str]]) -> None:
    """Wait for `go`, ask the store for a token, report (pid, fetched, token)."""
    fetched = False

    async def fetch() -> SharedToken:
        nonlocal fetched
        fetched = True
        await asyncio.sleep(0.3)  # a token call takes a while; the others must wait, not fetch
        now = time.time()
        return SharedToken(SecretStr(f"token-of-{os.getpid()}"), now + 60, now + 100)

    async def scenario() -> str:
        async with shared_tokens(parse_coordination_url(url), Keyring([key])) as store:
            return (await store.obtain(KEY, fetch)).value.get_secret_value()

    results.put((str(os.getpid()), False, "ready"))
    go.wait(30)
    token = asyncio.run(scenario())
    results.put((str(os.getpid()), fetched, token))
