"""SQL for the servers table; a duplicate name becomes :class:`ServerNameTaken`, a server
left with no way to log in :class:`ServerWithoutCredentials`, settings that contradict each
other (the table's checks across columns) :class:`ServerSettingsClash`.

Server rows are selected column by column so that ``password_enc`` and ``private_key_enc``
never leave the database through this service: only whether they are set.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import errors, sql
from pydantic import SecretStr

from infra.crypto import SecretBox
from infra.postgres import Pool
from services.admin.rows import Row, fetch_one

SERVER_WRITABLE = frozenset(
    {
        "name",
        "host",
        "port",
        "username",
        "password_enc",
        "private_key_enc",
        "remote_dir",
        "pattern",
        "recursive",
        "poll_interval_s",
        "min_file_age_s",
        "max_connections",
        "max_listing_entries",
        "max_depth",
        "enabled",
        "host_key",
        "trust_on_first_use",
        "job_pattern",
        "post_fetch",
        "archive_dir",
    }
)

# The settings that are kept encrypted, and their columns.
_SECRET_COLUMNS = {"password": "password_enc", "private_key": "private_key_enc"}
_CREDENTIALS = frozenset(_SECRET_COLUMNS.values())

_SERVER_COLUMNS = sql.SQL(
    "id, name, host, port, username, remote_dir, pattern, recursive, poll_interval_s,"
    " min_file_age_s, max_connections, max_listing_entries, max_depth, enabled, host_key,"
    " trust_on_first_use, job_pattern, post_fetch, archive_dir, next_scan_at, last_scan_at,"
    " last_scan_ok_at, scan_failures, last_scan_error, last_scan_warnings, created_at,"
    " updated_at,"
    " password_enc IS NOT NULL AS has_password,"
    " private_key_enc IS NOT NULL AS has_private_key"
)

_LIST_SERVERS = sql.SQL("SELECT {columns} FROM servers ORDER BY name").format(
    columns=_SERVER_COLUMNS
)
_GET_SERVER = sql.SQL("SELECT {columns} FROM servers WHERE id = %s").format(columns=_SERVER_COLUMNS)
_DISABLE_SERVER = sql.SQL(
    "UPDATE servers SET enabled = false, updated_at = now() WHERE id = %s RETURNING {columns}"
).format(columns=_SERVER_COLUMNS)
# Only enabled servers are polled, so a scan request for a disabled one would do nothing.
_REQUEST_SCAN = sql.SQL(
    "UPDATE servers SET next_scan_at = now() WHERE id = %s AND enabled RETURNING {columns}"
).format(columns=_SERVER_COLUMNS)

# The column defaults of the settings, as text PostgreSQL evaluates (``'*'::text``, ``22``).
_COLUMN_DEFAULTS = """
SELECT column_name, column_default FROM information_schema.columns
 WHERE table_schema = current_schema() AND table_name = 'servers'
   AND column_name = ANY(%s) AND column_default IS NOT NULL
"""


class ServerNameTaken(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"a server named {name!r} already exists")
        self.name = name


class ServerWithoutCredentials(Exception):
    """Neither a password nor a private key: discovery would fail at every poll."""

    def __init__(self) -> None:
        super().__init__("give a password or a private key: discovery logs in to the server "
                         "with one of them")


# The table's checks across columns (infra/migrations/0010_post_fetch.sql), as the field to
# blame and what to do.
_CLASHES = {
    "servers_archive_dir_needed": (
        "archive_dir", "give an archive directory: 'move' puts the stored files there"),
    "servers_archive_dir_scanned": (
        "archive_dir", "a relative archive directory lies inside the scanned directory, which"
        " is scanned with its subdirectories, so the moved files would be found again: give"
        " an absolute path outside it, or do not include subdirectories"),
}


class ServerSettingsClash(Exception):
    """Settings each valid alone that the server cannot have together."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def _clash(exc: errors.CheckViolation) -> ServerSettingsClash | None:
    found = _CLASHES.get(exc.diag.constraint_name or "")
    return None if found is None else ServerSettingsClash(*found)


@dataclass(frozen=True)
class ServerRemoval:
    """What DELETE did: removed the row, or disabled it because files still refer to it."""

    deleted: bool
    file_count: int
    server: Row | None


def server_columns(fields: Mapping[str, Any], box: SecretBox) -> Row:
    """Map settings to the servers table's columns, encrypting the secrets."""
    columns: Row = {}
    for name, value in sorted(fields.items()):
        if name in _SECRET_COLUMNS:
            secret: SecretStr | None = value
            encrypted = None if secret is None else box.encrypt(secret.get_secret_value())
            columns[_SECRET_COLUMNS[name]] = encrypted
        else:
            columns[name] = value
    return columns


def _checked_columns(values: Row) -> list[str]:
    unknown = set(values) - SERVER_WRITABLE
    if unknown:
        raise ValueError(f"not a writable server column: {sorted(unknown)}")
    return list(values)


async def column_defaults(pool: Pool) -> Row:
    """The values a new server takes for the settings it leaves out, as the database has
    them, so that the migration is the one place they are written."""
    async with pool.connection() as conn:
        cur = await conn.execute(_COLUMN_DEFAULTS, (sorted(SERVER_WRITABLE),))
        expressions = {row["column_name"]: row["column_default"] for row in await cur.fetchall()}
        if not expressions:
            return {}
        # The expressions come from the catalog, not from a client.
        query = sql.SQL("SELECT {}").format(sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(sql.SQL(expression), sql.Identifier(name))  # type: ignore[arg-type]
            for name, expression in expressions.items()
        ))
        row = await fetch_one(await conn.execute(query))
    return row or {}


async def list_servers(pool: Pool) -> list[Row]:
    async with pool.connection() as conn:
        cur = await conn.execute(_LIST_SERVERS)
        return await cur.fetchall()


async def get_server(pool: Pool, server_id: int) -> Row | None:
    async with pool.connection() as conn:
        return await fetch_one(await conn.execute(_GET_SERVER, (server_id,)))


async def insert_server(pool: Pool, values: Row) -> Row:
    columns = _checked_columns(values)
    if not any(values.get(column) for column in _CREDENTIALS):
        raise ServerWithoutCredentials
    query = sql.SQL("INSERT INTO servers ({names}) VALUES ({values}) RETURNING {columns}").format(
        names=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(map(sql.Placeholder, columns)),
        columns=_SERVER_COLUMNS,
    )
    try:
        async with pool.connection() as conn:
            row = await fetch_one(await conn.execute(query, values))
    except errors.UniqueViolation as exc:
        raise ServerNameTaken(values["name"]) from exc
    except errors.CheckViolation as exc:
        raise _clash(exc) or exc from exc
    assert row is not None  # INSERT ... RETURNING always yields the new row
    return row


async def update_server(pool: Pool, server_id: int, values: Row) -> Row | None:
    """Change only the given columns; None when the server does not exist. A change of its
    credentials that leaves it neither is undone (a server from before that check may
    still lack both: it can be edited otherwise).

    A changed server is due at once, out of any backoff: the change may be the fix. Its
    ``scan_failures`` stays until a scan succeeds: it counts what happened."""
    if not values:
        return await get_server(pool, server_id)
    columns = _checked_columns(values)
    query = sql.SQL(
        "UPDATE servers SET {assignments}, updated_at = now(),"
        " next_scan_at = least(next_scan_at, now())"
        " WHERE id = %(server_id)s RETURNING {columns}"
    ).format(
        assignments=sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name))
            for name in columns
        ),
        columns=_SERVER_COLUMNS,
    )
    try:
        async with pool.connection() as conn, conn.transaction():
            row = await fetch_one(await conn.execute(query, {**values, "server_id": server_id}))
            if (row is not None and _CREDENTIALS & values.keys()
                    and not (row["has_password"] or row["has_private_key"])):
                raise ServerWithoutCredentials  # rolls the change back
            return row
    except errors.UniqueViolation as exc:
        raise ServerNameTaken(values["name"]) from exc
    except errors.CheckViolation as exc:
        raise _clash(exc) or exc from exc


# With the files that retention summarized into file_totals: their history stays too.
_FILE_COUNT = """
SELECT (SELECT count(*) FROM files WHERE server_id = %(id)s)
       + coalesce((SELECT sum(files) FROM file_totals WHERE server_id = %(id)s), 0) AS n
"""


async def remove_server(pool: Pool, server_id: int) -> ServerRemoval | None:
    """Delete a server with no files; disable one with files so their history stays intact."""
    async with pool.connection() as conn, conn.transaction():
        # FOR UPDATE conflicts with the KEY SHARE lock that inserting a file takes on its
        # server, so no file can appear between the count and the DELETE.
        cur = await conn.execute("SELECT id FROM servers WHERE id = %s FOR UPDATE", (server_id,))
        if await cur.fetchone() is None:
            return None
        cur = await conn.execute(_FILE_COUNT, {"id": server_id})
        counted = await cur.fetchone()
        file_count = int(counted["n"]) if counted else 0
        if file_count == 0:
            await conn.execute("DELETE FROM servers WHERE id = %s", (server_id,))
            return ServerRemoval(deleted=True, file_count=0, server=None)
        server = await fetch_one(await conn.execute(_DISABLE_SERVER, (server_id,)))
        return ServerRemoval(deleted=False, file_count=file_count, server=server)


async def request_scan(pool: Pool, server_id: int) -> Row | None:
    """Make discovery poll the server on its next pass; None if it is missing or disabled."""
    async with pool.connection() as conn:
        return await fetch_one(await conn.execute(_REQUEST_SCAN, (server_id,)))
