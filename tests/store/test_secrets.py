"""Client secrets at rest: Fernet keys from the environment or a 0600 key file, rotation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select

from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.secrets import Keyring, SecretsError
from zuora_workflow_sync.store.tables import CustomerRow

from .factories import add_customer

SECRET = "s3cr3t-client-secret-value"


def test_secret_round_trips_when_encrypted_and_decrypted() -> None:
    keyring = Keyring([Keyring.generate_key()])
    token = keyring.encrypt(SecretStr(SECRET))
    assert SECRET not in token
    assert keyring.decrypt(token).get_secret_value() == SECRET


def test_decrypt_raises_secrets_error_when_key_is_wrong() -> None:
    token = Keyring([Keyring.generate_key()]).encrypt(SecretStr(SECRET))
    other = Keyring([Keyring.generate_key()])
    with pytest.raises(SecretsError, match="wrong or missing encryption key") as caught:
        other.decrypt(token)
    assert isinstance(caught.value, ConfigurationError)
    assert token not in str(caught.value)
    assert caught.value.__cause__ is None


def test_from_sources_raises_when_env_is_empty_and_key_file_is_missing(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    with pytest.raises(SecretsError, match="no encryption key"):
        Keyring.from_sources("  ", key_file, create=False)
    assert not key_file.exists()


def test_malformed_key_is_refused_without_echoing_it_when_given() -> None:
    with pytest.raises(SecretsError, match="not a valid Fernet key") as caught:
        Keyring(["hunter2-not-a-key"])
    assert "hunter2" not in str(caught.value)


def test_key_file_is_created_with_mode_0600_when_absent(tmp_path: Path) -> None:
    key_file = tmp_path / "config" / "keys"
    keyring = Keyring.from_sources(None, key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = keyring.encrypt(SecretStr(SECRET))
    reloaded = Keyring.from_sources(None, key_file, create=False)
    assert reloaded.decrypt(token).get_secret_value() == SECRET
    assert [p.name for p in key_file.parent.iterdir()] == ["keys"]


def test_key_file_is_refused_when_readable_by_others(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(Keyring.generate_key() + "\n")
    os.chmod(key_file, 0o644)
    with pytest.raises(SecretsError, match="chmod 600"):
        Keyring.from_sources(None, key_file)


def test_env_keys_win_over_key_file_when_both_exist(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    file_keyring = Keyring.from_sources(None, key_file)
    env_key = Keyring.generate_key()
    env_keyring = Keyring.from_sources(f" {env_key} ,", key_file)
    token = env_keyring.encrypt(SecretStr(SECRET))
    assert Keyring([env_key]).decrypt(token).get_secret_value() == SECRET
    with pytest.raises(SecretsError):
        file_keyring.decrypt(token)


def test_old_tokens_decrypt_and_rotate_when_a_new_key_is_prepended() -> None:
    old_key, new_key = Keyring.generate_key(), Keyring.generate_key()
    token = Keyring([old_key]).encrypt(SecretStr(SECRET))
    keyring = Keyring.from_sources(f"{new_key},{old_key}", Path("/nonexistent"))
    assert keyring.decrypt(token).get_secret_value() == SECRET
    rotated = keyring.rotate(token)
    assert Keyring([new_key]).decrypt(rotated).get_secret_value() == SECRET


def test_reprs_hold_no_secret_or_key_when_printed() -> None:
    key = Keyring.generate_key()
    keyring = Keyring([key])
    token = keyring.encrypt(SecretStr(SECRET))
    shown = f"{keyring!r} {keyring} {keyring.decrypt(token)!r} {keyring.decrypt(token)}"
    assert key not in shown and SECRET not in shown and token not in shown
    assert repr(keyring) == "Keyring(keys=1)"


def test_rotation_reencrypts_every_row_when_run(engine: Engine) -> None:
    old_key, new_key = Keyring.generate_key(), Keyring.generate_key()
    old = Keyring([old_key])
    for index in range(7):
        token = old.encrypt(SecretStr(f"{SECRET}-{index}"))
        add_customer(engine, f"customer-{index}", client_secret_encrypted=token)
    repository = CustomerRepository(engine)
    assert repository.reencrypt_all(Keyring([new_key, old_key]), batch_size=3) == 7
    new_only = Keyring([new_key])
    with engine.connect() as conn:
        rows = conn.execute(
            select(CustomerRow.name, CustomerRow.client_secret_encrypted).order_by(CustomerRow.id)
        ).all()
    assert [new_only.decrypt(token).get_secret_value() for _, token in rows] == [
        f"{SECRET}-{index}" for index in range(7)
    ]


def test_rotation_names_the_customer_when_a_token_cannot_be_opened(engine: Engine) -> None:
    customer = add_customer(engine)
    with pytest.raises(SecretsError, match=f"customer {customer.id}") as caught:
        CustomerRepository(engine).reencrypt_all(Keyring([Keyring.generate_key()]))
    assert customer.client_secret_encrypted not in str(caught.value)


def test_customer_repr_hides_the_encrypted_secret_when_printed(engine: Engine) -> None:
    customer = add_customer(engine)
    assert customer.client_secret_encrypted not in repr(customer)
