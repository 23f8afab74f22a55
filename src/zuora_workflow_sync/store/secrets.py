"""Client secrets encrypted at rest with Fernet/MultiFernet, keys from the environment or a file.

Keys are listed newest first: the first encrypts, all decrypt (rotation). No key, token or
plaintext ever appears in an exception message or a repr.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from zuora_workflow_sync.errors import ConfigurationError

DEFAULT_KEY_ENV = "ZWS_SECRET_KEYS"


class SecretsError(ConfigurationError):
    """A key is missing, malformed, insecurely stored, or cannot decrypt a stored secret."""


class Keyring:
    """The Fernet keys of this installation; encrypts, decrypts and rotates client secrets."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise SecretsError("no encryption key configured")
        self._count = len(keys)
        self._fernet = MultiFernet([_fernet(key, position) for position, key in enumerate(keys)])

    @classmethod
    def from_sources(
        cls,
        env_value: str | None,
        key_file: Path,
        *,
        create: bool = True,
        env_name: str = DEFAULT_KEY_ENV,
    ) -> Keyring:
        """Keys from `env_value` (comma-separated, newest first), else from `key_file`.

        The key file holds one key a line, newest first. It is created with mode 0600 when
        absent and `create` is true; an existing file readable by group or others is refused.
        """
        if env_value is not None and env_value.strip():
            return cls([part.strip() for part in env_value.split(",") if part.strip()])
        if not key_file.exists():
            if not create:
                raise SecretsError(
                    f"no encryption key: {env_name} is empty and the key file {key_file} "
                    "does not exist"
                )
            _create_key_file(key_file)
        return cls(_read_key_file(key_file))

    @staticmethod
    def generate_key() -> str:
        """A new random Fernet key (url-safe base64 text)."""
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, secret: SecretStr) -> str:
        """A Fernet token of `secret` under the newest key."""
        return self._fernet.encrypt(secret.get_secret_value().encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> SecretStr:
        """The secret inside `token`; SecretsError when no key of this keyring opens it."""
        try:
            plaintext = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SecretsError(
                "cannot decrypt a stored client secret: wrong or missing encryption key"
            ) from None
        return SecretStr(plaintext.decode("utf-8"))

    def rotate(self, token: str) -> str:
        """`token` re-encrypted under the newest key (its creation time is kept)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise SecretsError(
                "cannot re-encrypt a stored client secret: wrong or missing encryption key"
            ) from None

    def __repr__(self) -> str:
        return f"Keyring(keys={self._count})"


def _fernet(key: str | bytes, position: int) -> Fernet:
    try:
        return Fernet(key.encode("ascii") if isinstance(key, str) else key)
    except (ValueError, UnicodeEncodeError):
        raise SecretsError(
            f"encryption key #{position + 1} is not a valid Fernet key "
            "(32 url-safe base64-encoded bytes)"
        ) from None


def _create_key_file(key_file: Path) -> None:
    """Write a new key atomically: a 0600 temporary file hard-linked into place.

    Linking fails if another process created the file first; its key is then used instead.
    """
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = key_file.with_name(f".{key_file.name}.{uuid.uuid4().hex}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(Keyring.generate_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, key_file)
    finally:
        temporary.unlink(missing_ok=True)


def _read_key_file(key_file: Path) -> list[str]:
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        raise SecretsError(
            f"refusing to use key file {key_file}: group or others can access it "
            f"(mode {mode:04o}); run: chmod 600 {key_file}"
        )
    try:
        lines = key_file.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        raise SecretsError(f"cannot read key file {key_file}") from None
    keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not keys:
        raise SecretsError(f"key file {key_file} holds no key")
    return keys
