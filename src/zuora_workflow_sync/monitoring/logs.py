"""Structured logging: one JSON object per line, secrets redacted, remote text neutralised.

Redaction is a safety net, not the primary defence (secrets are `SecretStr` and never put in
messages): every record passes through `RedactingFilter`, which masks registered secret values
and anything shaped like a bearer token or a `client_secret=`/`access_token` field, and folds
CR/LF so a remote string cannot forge a log line (reliability.md, security items 2 and 12).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

MASK = "[REDACTED]"
_MIN_SECRET_LENGTH = 6
_LONGEST_SECRET = 8192
# Caps of one log line's parts: a remote or operator string (a 131,000-character "id") must not
# fill the log; the cut says how much was left out.
FIELD_MAX_CHARS = 500
MESSAGE_MAX_CHARS = 1000
TRACEBACK_MAX_CHARS = 20_000
_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(
        r"(?i)((?:client_secret|access_token|refresh_token|password)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\"'&\s,}]+"
    ),
)
_LINE_BREAKS = re.compile(r"[\r\n\x00\x1b\u2028\u2029]+")
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class SecretRegistry:
    """Secret values to be masked wherever they appear in a log line.

    A worker's secrets live for one run: `scoped` adds a value while the run is executing and
    removes it when the run ends (counted, so two runs holding the same secret keep it until
    both end); only secrets in use cost anything per line. `register` keeps a value for the rest
    of the process, for one-shot commands (`customers add`, `customers check`).
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._longest_first: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        self._add(value)

    @contextmanager
    def scoped(self, value: str) -> Iterator[None]:
        """Mask `value` in every line logged, by any thread, until the block ends."""
        added = self._add(value)
        try:
            yield
        finally:
            if added:
                self._remove(value)

    def _add(self, value: str) -> bool:
        if len(value) < _MIN_SECRET_LENGTH:
            return False
        with self._lock:
            self._counts[value] = self._counts.get(value, 0) + 1
            self._longest_first = tuple(sorted(self._counts, key=len, reverse=True))
        return True

    def _remove(self, value: str) -> None:
        with self._lock:
            left = self._counts.get(value, 0) - 1
            if left > 0:
                self._counts[value] = left
            else:
                self._counts.pop(value, None)
            self._longest_first = tuple(sorted(self._counts, key=len, reverse=True))

    def __len__(self) -> int:
        return len(self._counts)

    def snapshot(self) -> dict[str, int]:
        """What is held now, for `restore` (a host running several commands in one process,
        such as the test suite, gives each its own registrations)."""
        with self._lock:
            return dict(self._counts)

    def restore(self, held: dict[str, int]) -> None:
        with self._lock:
            self._counts = dict(held)
            self._longest_first = tuple(sorted(self._counts, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for value in self._longest_first:
            if value in text:
                text = text.replace(value, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda match: match.group(1) + MASK, text)
        return text

    def __repr__(self) -> str:
        return f"SecretRegistry(count={len(self._counts)})"


SECRETS = SecretRegistry()


def clean(text: str, registry: SecretRegistry = SECRETS) -> str:
    """A string made safe for one log line: secrets masked, line breaks folded."""
    return _LINE_BREAKS.sub(" ", registry.redact(text))


class RedactingFilter(logging.Filter):
    """Rewrites every record's message and string extras through `clean`."""

    def __init__(self, registry: SecretRegistry = SECRETS) -> None:
        super().__init__()
        self._registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._safe(record.getMessage(), MESSAGE_MAX_CHARS)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            traceback = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self._safe(traceback, TRACEBACK_MAX_CHARS)
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, self._safe(value, FIELD_MAX_CHARS))
        return True

    def _safe(self, text: str, limit: int) -> str:
        """Redacted first, then cut: a secret straddling the cut cannot leave its prefix. A huge
        text is redacted only as far as the kept part could reach (masks grow it at most 2x)."""
        if len(text) <= limit:
            return clean(text, self._registry)
        head = clean(text[: 4 * limit + _LONGEST_SECRET], self._registry)
        return f"{head[:limit]}…[{len(text) - limit:,} more characters cut]"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class _ProductHandler(logging.StreamHandler[TextIO]):
    """The stream handler `configure_logging` installs (so a second call replaces it)."""


class _ProductFileHandler(logging.FileHandler):
    """The file handler `configure_logging` installs (so a second call replaces it)."""


def configure_logging(
    level: str = "INFO",
    *,
    json_lines: bool = True,
    stream: TextIO | None = None,
    path: Path | None = None,
    file_level: str | None = None,
) -> None:
    """Install one redacting handler on the root logger: to `path` if given (at `file_level`,
    default `level`), else a stream (at `level`). OSError when `path` cannot be opened."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _ProductHandler | _ProductFileHandler):
            root.removeHandler(old)
            old.close()
    handler: logging.Handler
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _ProductFileHandler(path, encoding="utf-8")
    else:
        handler = _ProductHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel((file_level or level if path is not None else level).upper())
    # Alembic narrates every migration check at INFO; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # httpx logs every request at INFO (72 of the demo's 94 lines): kept for DEBUG only, so the
    # file at INFO holds the product's lines (a sync attempt, a dispatch, an alert).
    logging.getLogger("httpx").setLevel(
        logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING
    )
