"""A versioned backup folder: one file per live workflow, `DIR/<customer>/<zuora-id>-<name>.json`
(sorted keys, 2-space indent, final newline) and `DIR/manifest.json`.

A rerun rewrites only files whose bytes changed and removes the files of workflows that are gone
(only files the previous manifest lists: nothing else in the folder is touched), so the folder
can live in git and `git diff` shows real changes. Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from zuora_workflow_sync.catalog.files import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    document_text,
    write_atomically,
)
from zuora_workflow_sync.catalog.shapes import iso
from zuora_workflow_sync.domain.models import Customer
from zuora_workflow_sync.domain.records import WorkflowRecord
from zuora_workflow_sync.errors import ConfigurationError
from zuora_workflow_sync.store.customers import CustomerRepository
from zuora_workflow_sync.store.reads import WorkflowReader

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
_SLUG_CHARS = 60
_MANAGED_FILE = re.compile(r"[a-z0-9-]{1,80}/[0-9]{1,19}-[a-z0-9-]{0,80}\.json")
_PAGE = 500


@dataclass
class BackupReport:
    """What one backup run did; paths are relative to the folder."""

    folder: Path
    customers: int = 0
    workflows: int = 0
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0


def slug(text: str, fallback: str) -> str:
    """Lower-case ASCII letters, digits and single hyphens; `fallback` when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    value = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:_SLUG_CHARS].strip("-")
    return value or fallback


def back_up(engine: Engine, folder: Path, only: Customer | None = None) -> BackupReport:
    """Bring `folder` up to date with the stored workflows (of `only`, or of every customer)."""
    previous = _read_manifest(folder)
    customers = _all_customers(engine)
    folders = _customer_folders(customers)
    targets = [only] if only is not None else customers
    target_ids = {customer.id for customer in targets}
    report = BackupReport(folder, customers=len(targets))
    entries = [e for e in previous if only is not None and e["customer_id"] not in target_ids]
    reader = WorkflowReader(engine)
    for customer in targets:
        for record in reader.customer_workflows(customer.id):
            entries.append(_write_workflow(folder, folders[customer.id], customer, record, report))
    kept = {entry["file"] for entry in entries}
    stale = [e["file"] for e in previous if e["file"] not in kept and _ours(e, only, target_ids)]
    _remove(folder, stale, report)
    _remove_temporaries(folder)
    _write_manifest(folder, entries)
    return report


def _ours(entry: dict[str, Any], only: Customer | None, target_ids: set[int]) -> bool:
    """A previous entry this run decides about: every one, or those of `only`."""
    return only is None or entry["customer_id"] in target_ids


def _all_customers(engine: Engine) -> list[Customer]:
    repository, found, after = CustomerRepository(engine), list[Customer](), 0
    while page := repository.list(after_id=after, limit=_PAGE):
        found.extend(page)
        after = page[-1].id
    return found


def _customer_folders(customers: Iterable[Customer]) -> dict[int, str]:
    """Each customer's folder name: the slug of its name, `-<id>` added when an older
    customer (a smaller id) already has that slug."""
    taken: set[str] = set()
    folders: dict[int, str] = {}
    for customer in sorted(customers, key=lambda c: c.id):
        name = slug(customer.name, "customer")
        if name in taken:
            name = f"{name}-{customer.id}"
        taken.add(name)
        folders[customer.id] = name
    return folders


def _write_workflow(
    folder: Path,
    customer_folder: str,
    customer: Customer,
    record: WorkflowRecord,
    report: BackupReport,
) -> dict[str, Any]:
    summary = record.summary
    relative = (
        f"{customer_folder}/{summary.zuora_workflow_id}-{slug(summary.name, 'workflow')}.json"
    )
    data = document_text(record.document).encode("utf-8")
    path = folder / relative
    if _same_bytes(path, data):
        report.unchanged += 1
    else:
        write_atomically(path, data)
        report.written.append(relative)
    report.workflows += 1
    return {
        "file": relative,
        "customer_id": customer.id,
        "customer": customer.name,
        "workflow_id": summary.id,
        "zuora_workflow_id": summary.zuora_workflow_id,
        "name": summary.name,
        "content_hash": record.content_hash,
        "last_changed_at": iso(summary.last_changed_at),
    }


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except FileNotFoundError:
        return False


def _read_manifest(folder: Path) -> list[dict[str, Any]]:
    """The previous run's entries ([] for a new folder); a manifest this product did not
    write is refused, so files it lists are never removed by mistake."""
    path = folder / MANIFEST
    if folder.exists() and not folder.is_dir():
        raise ConfigurationError(f"{folder} exists and is not a folder")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        raise ConfigurationError(
            f"{path} is not a readable backup manifest; move it away"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ConfigurationError(f"{path} is not a backup manifest of this product; move it away")
    entries = manifest.get("workflows")
    if not isinstance(entries, list):
        raise ConfigurationError(f"{path} is not a backup manifest of this product; move it away")
    return [entry for entry in entries if _valid_entry(entry)]


def _valid_entry(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("file"), str)
        and _MANAGED_FILE.fullmatch(entry["file"]) is not None
        and type(entry.get("customer_id")) is int
    )


def _remove(folder: Path, relative_paths: list[str], report: BackupReport) -> None:
    for relative in sorted(relative_paths):
        path = folder / relative
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        report.removed.append(relative)
        _remove_if_empty(path.parent)


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: other files are not ours to remove
        directory.rmdir()


def _remove_temporaries(folder: Path) -> None:
    """Temporary files a crashed run left (never a complete file: those were renamed)."""
    for pattern in (f"{TEMP_PREFIX}*{TEMP_SUFFIX}", f"*/{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)


def _write_manifest(folder: Path, entries: list[dict[str, Any]]) -> None:
    manifest = {
        "format": MANIFEST_FORMAT,
        "workflows": sorted(entries, key=lambda entry: entry["file"]),
    }
    data = document_text(manifest).encode("utf-8")
    if not _same_bytes(folder / MANIFEST, data):
        write_atomically(folder / MANIFEST, data)
