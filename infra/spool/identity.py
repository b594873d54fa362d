"""A spool's identity: the name its queues and its files' rows know it by.

Configured (``INTAKE_SPOOL_ID``: a Kubernetes pod's name, a host's name), or kept in the
spool directory itself, so that the downloader and the uploader sharing a directory agree
without being told, and a wiped or replaced disk is a new spool whose lost copies nobody
waits for.
"""

import os
import re
import secrets
import socket
from pathlib import Path

from contracts import SPOOL_ID_PATTERN

ID_FILE = ".spool-id"
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.-]+")


class SpoolIdentityError(RuntimeError):
    """The spool directory holds an identity file that is not a valid spool id."""


def resolve(root: Path, configured: str | None) -> str:
    """The configured id, else the one in ``root``'s identity file, made on first use."""
    if configured is not None:
        return configured
    path = root / ID_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    root.mkdir(parents=True, exist_ok=True)
    draft = root / f"{ID_FILE}.{secrets.token_hex(4)}"
    draft.write_text(_new_id() + "\n", encoding="ascii")
    try:
        os.link(draft, path)  # atomic: of two processes starting at once, one id wins
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return _read(path)


def _read(path: Path) -> str:
    text = path.read_text(encoding="ascii").strip()
    if not re.fullmatch(SPOOL_ID_PATTERN, text):
        raise SpoolIdentityError(f"{path} holds {text[:70]!r}, not a spool id")
    return text


def _new_id() -> str:
    """``<host name>-<8 hex digits>``: readable in the console, unique across hosts."""
    host = _NOT_ALLOWED.sub("-", socket.gethostname().split(".")[0]).strip("-._")[:50]
    return f"{host or 'spool'}-{secrets.token_hex(4)}"
