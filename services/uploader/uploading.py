"""Storing one spool file under its deterministic key, verified, never twice."""

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.storage import ObjectStore, StorageError


class ObjectMismatch(StorageError):
    """The stored object does not match what we sent."""


@dataclass(frozen=True)
class Stored:
    key: str
    etag: str
    seconds: float
    skipped: bool


def object_key(row: dict[str, Any], server_name: str | None) -> str:
    """``<server>/<YYYY>/<MM>/<DD>/<file id>/<filename>``: stable across retries."""
    created: datetime = row["created_at"]
    return f"{server_name or 'upload'}/{created:%Y/%m/%d}/{row['id']}/{row['filename']}"


def store(store: ObjectStore, path: Path, key: str, *, size: int, sha256: str,
          md5: str, retrying: bool) -> Stored:
    """Upload unless the identical object is already there; verify either way. In a thread.

    Only a retry can find the object there (the key holds the file id and only this stage
    writes it), so a first attempt saves the request that looks: a round trip per file.
    """
    started = time.monotonic()
    existing = store.stat(key) if retrying else None
    if existing is not None and existing.size == size and existing.sha256 == sha256:
        return Stored(key, existing.etag, time.monotonic() - started, skipped=True)
    if path.stat().st_size != size:
        raise ObjectMismatch(f"spool file has {path.stat().st_size} bytes, expected {size}")
    etag = store.put_file(path, key, sha256=sha256, md5=md5)
    stored = store.stat(key)
    if stored is None or stored.size != size:
        raise ObjectMismatch(
            f"stored object {key} has {stored.size if stored else 'no'} bytes, expected {size}"
        )
    return Stored(key, etag or stored.etag, time.monotonic() - started, skipped=False)
