"""`workflow-sync keys`: generate prints one new key; rotate re-encrypts every secret under the
newest key and refuses keys that cannot open them.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.secrets import Keyring, SecretsError

from .conftest import SECRET, Cli, assert_refused


def _tokens(cli: Cli) -> list[str]:
    engine = cli.engine()
    try:
        return [c.client_secret_encrypted for c in CustomerRepository(engine).list(limit=100)]
    finally:
        engine.dispose()


def test_generate_prints_one_valid_key_when_asked(cli: Cli) -> None:
    first, second = cli("keys", "generate"), cli("keys", "generate")

    assert first.exit_code == 0 and first.stderr == ""
    key = first.stdout.strip()
    assert first.stdout == key + "\n" and key != second.stdout.strip()
    Fernet(key.encode("ascii"))
    assert not cli.database.exists()


def test_rotate_reencrypts_every_secret_when_a_new_key_is_put_first(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key, new_key = Keyring.generate_key(), Keyring.generate_key()
    monkeypatch.setenv("ZWS_SECRET_KEYS", old_key)
    for name in ("acme", "globex", "initech"):
        cli.add(name)
    monkeypatch.setenv("ZWS_SECRET_KEYS", f"{new_key},{old_key}")

    result = cli("keys", "rotate", "--env-keys-saved")

    assert result.exit_code == 0, result.output
    assert result.stdout == "Re-encrypted 3 client secrets\n"
    tokens = _tokens(cli)
    assert len(tokens) == 3
    for token in tokens:
        assert Keyring([new_key]).decrypt(token).get_secret_value() == SECRET
        with pytest.raises(SecretsError):
            Keyring([old_key]).decrypt(token)
    assert old_key not in result.stdout + result.stderr
    assert new_key not in result.stdout + result.stderr


def test_rotate_refuses_and_writes_nothing_when_the_key_is_wrong(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.add("acme")
    before = cli.dump()
    wrong = Keyring.generate_key()
    monkeypatch.setenv("ZWS_SECRET_KEYS", wrong)

    result = cli("keys", "rotate", "--env-keys-saved")

    assert_refused(result, "cannot re-encrypt the client secret of customer 1")
    assert wrong not in result.stderr
    assert cli.dump() == before


def test_rotate_refuses_when_a_key_is_malformed(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.add("acme")
    before = cli.dump()
    monkeypatch.setenv("ZWS_SECRET_KEYS", "not-a-fernet-key-at-all")

    result = cli("keys", "rotate")

    assert_refused(result, "encryption key #1 is not a valid Fernet key")
    assert "not-a-fernet-key-at-all" not in result.stderr
    assert cli.dump() == before


def test_rotate_creates_no_key_file_when_none_is_configured(cli: Cli) -> None:
    result = cli("keys", "rotate")

    assert_refused(result, "no encryption key")
    assert not (cli.home / "secret.key").exists()


def test_rotate_refuses_key_file_when_others_can_read_it(cli: Cli) -> None:
    cli.add("acme")
    (cli.home / "secret.key").chmod(0o644)

    assert_refused(cli("keys", "rotate"), "chmod 600")


def test_rotate_refuses_a_key_when_passed_as_an_option(cli: Cli) -> None:
    key = Keyring.generate_key()

    result = cli("keys", "rotate", "--new-key", key)

    assert_refused(result, "never accepted on the command line")
    assert key not in result.stderr
