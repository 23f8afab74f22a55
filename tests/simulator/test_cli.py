"""`workflow-sync simulator`: prints one line per tenant, serves, exits cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx

LINE = re.compile(
    r"(tenant-\d{3})  (http://127\.0\.0\.1:\d+)  client_id=([0-9a-f-]{36})  client_secret=(\S+)"
)


def test_simulator_command_prints_tenants_and_serves_when_started() -> None:
    command = [sys.executable, "-c", "from zuora_workflow_sync.cli import main; main()"]
    args = ["simulator", "--port", "0", "--tenants", "2", "--workflows", "3", "--seed", "5"]
    process = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        matches = [LINE.fullmatch(line.strip()) for line in lines]
        assert all(matches), lines
        name, base_url, client_id, secret = matches[0].groups()  # type: ignore[union-attr]
        form = {"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}
        assert name == "tenant-001"
        assert httpx.post(f"{base_url}/oauth/token", data=form).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert output == ""
