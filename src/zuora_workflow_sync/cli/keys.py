"""`workflow-sync keys` (make a Fernet key, re-encrypt every client secret under the newest),
and how a client secret is read: stdin, an environment variable or a file, never argv.

Keys live in ZWS_SECRET_KEYS or the key file, never in the database; only `generate` prints one.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr

from zuora_workflow_sync.cli.db import OneLineCommand, open_runtime
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.monitoring.logs import SECRETS
from zuora_workflow_sync.settings import Settings
from zuora_workflow_sync.store.secrets import Keyring, SecretsError

_SECRET_MAX_LENGTH = 4096
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")

SecretStdin = Annotated[
    bool,
    typer.Option(
        "--secret-stdin",
        help="Read the client secret from stdin (the default; on a terminal it is typed "
        "without echo). One trailing newline is dropped.",
    ),
]
SecretEnv = Annotated[
    str | None,
    typer.Option(
        "--secret-env", metavar="VAR", help="Read the client secret from this environment variable."
    ),
]
SecretFile = Annotated[
    Path | None,
    typer.Option(
        "--secret-file",
        metavar="PATH",
        help="Read the client secret from this file (one trailing newline is dropped).",
    ),
]


keys_app = typer.Typer(
    no_args_is_help=True,
    help="Encryption keys of the stored client secrets: generate one, rotate to the newest.",
)


@keys_app.command("generate", cls=OneLineCommand)
def generate() -> None:
    """Print a new random Fernet key on stdout (store it like a password; nothing is saved).

    Use it as the new first key of ZWS_SECRET_KEYS (or the first line of the key file), then
    run `workflow-sync keys rotate`.
    """
    # The one place printing a key is right: the operator asked for it.
    typer.echo(Keyring.generate_key())


EnvKeysSaved = Annotated[
    bool,
    typer.Option(
        "--env-keys-saved",
        help="Rotate to the first key of ZWS_SECRET_KEYS although the key file does not hold "
        "it: say so only when every process of this installation reads ZWS_SECRET_KEYS from "
        "a saved configuration (a secret store, a service's environment file), not this shell.",
    ),
]


@keys_app.command("rotate", cls=OneLineCommand)
def rotate(env_keys_saved: EnvKeysSaved = False) -> None:
    """Re-encrypt every stored client secret under the newest key.

    Rotation, step by step: (1) `workflow-sync keys generate`; (2) add the new key as the
    FIRST line of the key file (ZWS_HOME/secret.key or ZWS_KEY_FILE), the old key below it;
    (3) run `workflow-sync keys rotate`: the old key still decrypts, the new one encrypts;
    (4) drop the old key from the file. Safe to rerun: if interrupted, every secret still
    opens with the listed keys. Keys that cannot open a stored secret are refused (one line,
    exit 1) and that secret is left as it was.

    The key rotated to must be saved: the first line of the key file. With ZWS_SECRET_KEYS
    set (comma-separated, newest first), its first key must also be the key file's first
    line, or `--env-keys-saved` says that ZWS_SECRET_KEYS is where this installation keeps
    its keys; otherwise rotate refuses, as a key typed only into this shell would leave every
    secret encrypted to a key saved nowhere.
    """
    with open_runtime() as runtime:
        keyring = existing_keyring(runtime.settings)
        if not env_keys_saved:
            refuse_unsaved_newest_key(runtime.settings)
        count = runtime.customers.reencrypt_all(keyring)
    typer.echo(f"Re-encrypted {count} client secrets")


def refuse_unsaved_newest_key(settings: Settings) -> None:
    """SecretsError when the key a rotation would encrypt to is not saved in the key file."""
    keys = settings.secret_keys
    env_value = keys.get_secret_value() if keys is not None else ""
    env_keys = [part.strip() for part in env_value.split(",") if part.strip()]
    if not env_keys:
        return  # the keys are the key file's: its first line is the newest
    key_file = settings.resolved_key_file
    saved = _first_key(key_file)
    if saved != env_keys[0]:
        where = "is not the first line of" if saved else "is not saved in"
        raise SecretsError(
            f"refusing to rotate: the first key of ZWS_SECRET_KEYS {where} the key file "
            f"{key_file}, so every secret would be encrypted to a key saved nowhere; put it "
            "first in the key file (old keys below) and rerun, or pass --env-keys-saved if "
            "ZWS_SECRET_KEYS is where every process of this installation reads its keys"
        )


def _first_key(key_file: Path) -> str | None:
    try:
        lines = key_file.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    keys = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return keys[0] if keys else None


def existing_keyring(settings: Settings) -> Keyring:
    """The configured keys; unlike the runtime's keyring, never creates a key file."""
    keys = settings.secret_keys
    return Keyring.from_sources(
        keys.get_secret_value() if keys is not None else None,
        settings.resolved_key_file,
        create=False,
    )


def read_client_secret(from_stdin: bool, env_name: str | None, file: Path | None) -> SecretStr:
    """The client secret from one source (stdin by default), registered for log redaction.

    Raises ConfigurationError, whose message never holds the secret.
    """
    if from_stdin + (env_name is not None) + (file is not None) > 1:
        raise ConfigurationError("give one of --secret-stdin, --secret-env and --secret-file")
    if env_name is not None:
        raw = _secret_from_env(env_name)
    elif file is not None:
        raw = _secret_from_file(file)
    else:
        raw = _secret_from_stdin()
    secret = raw.removesuffix("\n").removesuffix("\r") if raw.endswith("\n") else raw
    if not secret.strip():
        raise ConfigurationError("the client secret is empty")
    if len(secret) > _SECRET_MAX_LENGTH:
        raise ConfigurationError(f"the client secret is over {_SECRET_MAX_LENGTH} characters")
    if not secret.isprintable():
        raise ConfigurationError(
            "the client secret holds a control character (tab, escape, NUL, a line break "
            "inside...): give it exactly as Zuora shows it"
        )
    SECRETS.register(secret)
    return SecretStr(secret)


def _secret_from_stdin() -> str:
    if sys.stdin is None:
        raise ConfigurationError("no stdin to read the client secret from")
    if sys.stdin.isatty():
        return getpass.getpass("Client secret: ")
    try:
        return sys.stdin.read(_SECRET_MAX_LENGTH + 3)
    except UnicodeDecodeError:
        raise ConfigurationError("the client secret on stdin is not UTF-8 text") from None


def _secret_from_env(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise ConfigurationError(f"{name[:60]!r} is not an environment variable name")
    value = os.environ.get(name)
    if value is None:
        raise ConfigurationError(f"the environment variable {name} is not set")
    return value


def _secret_from_file(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.read(_SECRET_MAX_LENGTH + 3)
    except UnicodeDecodeError:
        raise ConfigurationError(f"the secret file {path} is not UTF-8 text") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"cannot read the secret file {path}: {reason}") from None
