"""The client secret and the encryption keys never reach stdout, stderr or a log line, whatever
the command, and a real process reads the secret from stdin only.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zuora_workflow_sync.store.secrets import Keyring

from .conftest import CLIENT_ID, SECRET, Cli

MAIN = [sys.executable, "-c", "from zuora_workflow_sync.cli import main; main()"]


def test_no_output_or_log_holds_the_secret_or_a_key_when_every_command_runs(
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ZWS_LOG_LEVEL", "debug")
    monkeypatch.setenv("ZWS_VERBOSE", "1")  # failures also log their traceback
    monkeypatch.setenv("ACME_SECRET", SECRET)
    caplog.set_level(logging.DEBUG)
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET, encoding="utf-8")
    add = (
        "customers",
        "add",
        "--environment",
        "eu-sandbox",
        "--client-id",
        CLIENT_ID,
        "--no-check",
    )
    commands: list[tuple[tuple[str, ...], str | None]] = [
        ((*add, "--name", "stdin"), SECRET),
        ((*add, "--name", "env", "--secret-env", "ACME_SECRET"), None),
        ((*add, "--name", "file", "--secret-file", str(secret_file)), None),
        ((*add, "--name", "argv", "--client-secret", SECRET), None),
        ((*add, "--name", "dup", "--id", "1"), SECRET),
        (("customers", "show", "1"), None),
        (("customers", "show", "2", "--json"), None),
        (("customers", "list", "--json"), None),
        (("customers", "list"), None),
        (("customers", "set-secret", "3", "--secret-env", "ACME_SECRET"), None),
        (("status", "--json"), None),
        (("runs", "--json"), None),
        (("keys", "rotate"), None),
    ]
    outputs = []
    for args, stdin in commands:
        result = cli(*args, input=stdin)
        outputs += [result.stdout, result.stderr]
    stored_key = (tmp_path / "secret.key").read_text(encoding="ascii").strip()
    monkeypatch.setenv("ZWS_SECRET_KEYS", f"{Keyring.generate_key()},{stored_key}")
    rotated = cli("keys", "rotate", "--env-keys-saved")
    outputs += [rotated.stdout, rotated.stderr, caplog.text]

    assert rotated.stdout == "Re-encrypted 3 client secrets\n"
    for text in outputs:
        assert SECRET not in text
        assert stored_key not in text


def test_real_process_reads_the_secret_from_stdin_when_it_is_piped(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZWS_")}
    env["ZWS_HOME"] = str(tmp_path)
    add = [
        "customers",
        "add",
        "--name",
        "acme",
        "--environment",
        "us-sandbox",
        "--client-id",
        CLIENT_ID,
    ]
    add.append("--no-check")

    piped = subprocess.run(
        [*MAIN, *add], input=SECRET + "\n", env=env, capture_output=True, text=True, timeout=60
    )
    on_argv = subprocess.run(
        [*MAIN, *add, f"--client-secret={SECRET}"],
        stdin=subprocess.DEVNULL,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == "Customer 1 added: acme (https://rest.sandbox.na.zuora.com)\n"
    assert on_argv.returncode == 1
    assert on_argv.stderr.count("\n") == 1 and "--secret-stdin" in on_argv.stderr
    for text in (piped.stdout, piped.stderr, on_argv.stdout, on_argv.stderr):
        assert SECRET not in text
