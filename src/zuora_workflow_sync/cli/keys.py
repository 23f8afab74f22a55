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
from zuora_workflow_sync.store.secrets import Keyring

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


@keys_app.command("rotate", cls=OneLineCommand)
def rotate() -> None:
    """Re-encrypt every stored client secret under the newest key.

    Rotation, step by step: (1) `workflow-sync keys generate`; (2) put the new key FIRST in
    ZWS_SECRET_KEYS (comma-separated, newest first) and keep the old key after it, or add it as
    the first line of the key file (ZWS_HOME/secret.key or ZWS_KEY_FILE), old key below;
    (3) run `workflow-sync keys rotate`: the old key still decrypts, the new one encrypts;
    (4) drop the old key everywhere. Safe to rerun: if interrupted, every secret still opens
    with the listed keys. Keys that cannot open a stored secret are refused (one line, exit 1)
    and that secret is left as it was.
    """
    with open_runtime() as runtime:
        keyring = existing_keyring(runtime.settings)
        count = runtime.customers.reencrypt_all(keyring)
    typer.echo(f"Re-encrypted {count} client secrets")


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
