"""A local Slack-compatible webhook receiver for the alert tests: its URL and the texts posted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Hook(BaseHTTPRequestHandler):
    received: list[str]
    delay_seconds: float

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length))["text"])
        time.sleep(self.delay_seconds)  # a slow receiver answers late
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def webhook_receiver(delay_seconds: float = 0.0) -> Iterator[tuple[str, list[str]]]:
    """Serve on 127.0.0.1:0 until the block ends; yields the hook's URL and the texts received.

    `delay_seconds`: how long each POST waits (its text already received) before the answer.
    """
    received: list[str] = []
    handler = type("Hook", (_Hook,), {"received": received, "delay_seconds": delay_seconds})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
