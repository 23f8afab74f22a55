"""Log lines: registered secrets and token-shaped fields are masked, CR/LF folded."""

from __future__ import annotations

import io
import json
import logging

from zuora_workflow_sync.monitoring.logs import (
    MASK,
    JsonFormatter,
    RedactingFilter,
    SecretRegistry,
    clean,
)


def test_registered_secret_is_masked_wherever_it_appears() -> None:
    registry = SecretRegistry()
    registry.register("s3cr3t-value-123")
    assert clean("token call with s3cr3t-value-123 failed", registry) == (
        f"token call with {MASK} failed"
    )


def test_token_shaped_fields_are_masked_when_not_registered() -> None:
    registry = SecretRegistry()
    text = 'Authorization: Bearer abc.def-123 body {"access_token": "xyz987"} client_secret=hunter2'
    cleaned = clean(text, registry)
    assert "abc.def-123" not in cleaned and "xyz987" not in cleaned and "hunter2" not in cleaned
    assert clean("cannot decrypt a stored client secret: wrong key", registry).endswith("wrong key")


def test_remote_line_breaks_cannot_forge_a_log_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(SecretRegistry()))
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("test.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning(
            "zuora said %s", 'oops\n{"level": "info", "message": "forged"}', extra={"x": "a\rb"}
        )
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"].startswith("zuora said oops {") and entry["x"] == "a b"


def test_scoped_secret_is_masked_until_the_last_run_holding_it_ends() -> None:
    registry = SecretRegistry()
    secret = "shared-tenant-secret-42"
    with registry.scoped(secret):
        with registry.scoped(secret):  # two runs of one tenant at once
            assert clean(secret, registry) == MASK
        assert clean(secret, registry) == MASK  # the other run still holds it
    assert clean(secret, registry) == secret
    assert len(registry) == 0
