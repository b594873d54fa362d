"""Free space on the spool volume: a new copy is started only if it fits with a reserve
left over (``INTAKE_SPOOL_RESERVE_BYTES``), by the downloader."""

import os

from infra.spool.paths import Spool


class SpoolFull(Exception):
    """Not enough free space on the spool volume for this file right now."""


def check_free_space(spool: Spool, needed: int, reserve: int) -> None:
    """Raise :class:`SpoolFull` unless ``needed`` bytes plus ``reserve`` are free."""
    stats = os.statvfs(spool.root)
    free = stats.f_bavail * stats.f_frsize
    if free < needed + reserve:
        raise SpoolFull(
            f"spool has {free} bytes free; this file needs {needed} plus a reserve of {reserve}"
        )
