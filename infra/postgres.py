"""PostgreSQL connection pool and schema migrations (psycopg 3, no ORM)."""

import logging
import select
from importlib import resources
from time import monotonic
from weakref import WeakKeyDictionary

from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from infra.settings import DatabaseSettings

log = logging.getLogger(__name__)

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]

# Any constant works; it only has to be the same in every replica.
_MIGRATION_LOCK = 0x1A7A4E


# Asking the server before every borrow whether a connection still works costs a round trip
# (a tenth of a small file's database time). Instead a connection is asked only when
# something may have happened to it: data or an end of stream waits on its socket while it
# sat idle (the server closing it: a restart, a terminated backend), or it sat idle longer
# than this (a firewall may have dropped it without a word).
CHECK_AFTER_IDLE_SECONDS = 5.0

_returned_at: WeakKeyDictionary[AsyncConnection[DictRow], float] = WeakKeyDictionary()


async def _note_return(conn: AsyncConnection[DictRow]) -> None:
    _returned_at[conn] = monotonic()


def _has_news(conn: AsyncConnection[DictRow]) -> bool:
    """Whether anything arrived on an idle connection (nothing should): no round trip."""
    if conn.closed or conn.broken:
        return True
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    return bool(readable)


async def _check_when_in_doubt(conn: AsyncConnection[DictRow]) -> None:
    idle = monotonic() - _returned_at.get(conn, float("-inf"))
    if idle >= CHECK_AFTER_IDLE_SECONDS or _has_news(conn):
        await AsyncConnectionPool.check_connection(conn)


def create_pool(settings: DatabaseSettings) -> Pool:
    """A pool that is opened by the service's lifespan, not at construction."""
    return AsyncConnectionPool(
        settings.database_url.get_secret_value(),
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        kwargs={"row_factory": dict_row, "autocommit": True},
        connection_class=AsyncConnection[DictRow],
        check=_check_when_in_doubt,
        reset=_note_return,
        open=False,
        name="intake",
    )


def _migrations() -> list[tuple[int, str, str]]:
    files = resources.files("infra") / "migrations"
    found = []
    for entry in files.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class SchemaBehind(RuntimeError):
    """The database lacks migrations this build needs, and this process may not apply them."""


# `python -m services migrate` gives up on an unreachable database after this long.
CONNECT_TIMEOUT_S = 10


def required_version() -> int:
    """The schema version this build needs: its newest migration."""
    return _migrations()[-1][0]


async def migrate(pool: Pool) -> None:
    async with pool.connection() as conn:
        await _apply_migrations(conn)


async def migrate_database(settings: DatabaseSettings) -> list[str]:
    """``python -m services migrate``: one connection rather than a pool, so that an
    unreachable database fails at once with libpq's reason (``psycopg.OperationalError``)."""
    async with await AsyncConnection.connect(
        settings.database_url.get_secret_value(), autocommit=True, row_factory=dict_row,
        connect_timeout=CONNECT_TIMEOUT_S,
    ) as conn:
        return await _apply_migrations(conn)


async def prepare_schema(pool: Pool, *, migrate_on_start: bool) -> None:
    """At a service's start: migrate or, when its database role may not change the schema
    (``migrate_on_start`` false), refuse to run on a schema older than this build's.

    A newer schema is accepted: replicas of the previous build keep running while a rolling
    update migrates ahead of them.
    """
    if migrate_on_start:
        await migrate(pool)
        return
    async with pool.connection() as conn:
        try:
            applied = await _applied_versions(conn)
        except errors.UndefinedTable:
            applied = set()
    if {version for version, _, _ in _migrations()} - applied:
        behind = (f"database schema is at version {max(applied, default=0)}, this build needs"
                  f" {required_version()}: run `python -m services migrate`")
        log.error(behind)  # one line of its own, ahead of the server's startup traceback
        raise SchemaBehind(behind)


async def _applied_versions(conn: AsyncConnection[DictRow]) -> set[int]:
    cur = await conn.execute("SELECT version FROM schema_migrations")
    return {row["version"] for row in await cur.fetchall()}


async def _apply_migrations(conn: AsyncConnection[DictRow]) -> list[str]:
    """Apply pending migrations and name them; safe when several replicas start at once.

    The advisory lock serialises concurrent starters, and each migration commits together
    with its row in ``schema_migrations`` so a crash never leaves one half applied.
    """
    done = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = await _applied_versions(conn)
        for version, name, sql in _migrations():
            if version in applied:
                continue
            await conn.execute(sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
            )
            log.info("applied migration %s", name)
            done.append(name)
    return done
