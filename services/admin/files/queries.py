"""SQL for listing files newest first (keyset pages) and reading one file with its journal.

Every filter keeps the ``ORDER BY created_at DESC, id DESC`` an index walk: ``files_newest``,
``files_status_newest`` or ``files_server_newest`` (0001_initial.sql), the page key as a
row comparison the index can seek to, and ``q`` answered either by filtering that walk or
by the trigram index ``files_filename_trgm`` (0002_admin.sql) when the name is rare.
"""

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from infra import transfer_progress
from infra.file_states import FINISHED
from infra.postgres import Pool
from services.admin.rows import Row, fetch_one

FileKey = tuple[datetime, UUID]
"""Where a file sits in the newest-first listing: ``(created_at, id)``."""

FILE_COLUMNS = sql.SQL(
    "f.id, f.server_id, s.name AS server_name, f.source, f.remote_path, f.filename, f.size,"
    " f.remote_mtime, f.status, f.sha256, f.md5, f.bucket, f.object_key, f.etag, f.attempts,"
    " f.lease_until, f.error_message, f.created_at, f.updated_at, f.stored_at, f.notified_at,"
    " f.remote_action, f.remote_action_state"
)
_FILES_FROM = sql.SQL("FROM files f LEFT JOIN servers s ON s.id = f.server_id")
_GET_FILE = sql.SQL("SELECT {columns} {source} WHERE f.id = %s").format(
    columns=FILE_COLUMNS, source=_FILES_FROM
)
_FILE_EVENTS = "SELECT id, at, event, details FROM file_events WHERE file_id = %s ORDER BY id"


@dataclass(frozen=True)
class FileFilter:
    status: str | None = None
    server_id: int | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def like_pattern(text: str) -> str:
    """``text`` as a literal substring for ILIKE: its own ``%``, ``_`` and ``\\`` escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Each filter field and the condition it adds; a field that is None adds none.
_CONDITIONS = (
    ("status", sql.SQL("f.status = %(status)s")),
    ("server_id", sql.SQL("f.server_id = %(server_id)s")),
    ("q", sql.SQL("f.filename ILIKE %(q)s ESCAPE '\\'")),
    ("since", sql.SQL("f.created_at >= %(since)s")),
    ("until", sql.SQL("f.created_at < %(until)s")),
)


def _conditions(where: FileFilter, params: dict[str, Any]) -> list[sql.Composable]:
    values = {**asdict(where), "q": like_pattern(where.q) if where.q else None}
    conditions: list[sql.Composable] = []
    for name, condition in _CONDITIONS:
        if values[name] is not None:
            conditions.append(condition)
            params[name] = values[name]
    return conditions


def list_files_query(
    where: FileFilter, *, after: FileKey | None, limit: int
) -> tuple[sql.Composed, dict[str, Any]]:
    params: dict[str, Any] = {"limit": limit}
    conditions = _conditions(where, params)
    if after is not None:
        conditions.append(sql.SQL("(f.created_at, f.id) < (%(after_at)s, %(after_id)s)"))
        params["after_at"], params["after_id"] = after
    clause = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL(
        "SELECT {columns} {source} {where} ORDER BY f.created_at DESC, f.id DESC LIMIT %(limit)s"
    ).format(columns=FILE_COLUMNS, source=_FILES_FROM, where=clause)
    return query, params


async def list_files(
    pool: Pool, where: FileFilter, *, after: FileKey | None, limit: int
) -> tuple[list[Row], FileKey | None]:
    """One page of files, newest first, and the key to continue after (None on the last page)."""
    query, params = list_files_query(where, after=after, limit=limit + 1)
    async with pool.connection() as conn:
        cur = await conn.execute(query, params)
        rows = await cur.fetchall()
    next_key = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_key = rows[-1]["created_at"], rows[-1]["id"]
    return await _with_progress(pool, rows), next_key


async def get_file(pool: Pool, file_id: UUID) -> Row | None:
    """The file with its server's name and its transfer in flight under ``progress``."""
    async with pool.connection() as conn:
        row = await fetch_one(await conn.execute(_GET_FILE, (file_id,)))
    return (await _with_progress(pool, [row]))[0] if row else None


async def get_file_with_events(pool: Pool, file_id: UUID) -> Row | None:
    """:func:`get_file` and its journal under ``events``, oldest first."""
    row = await get_file(pool, file_id)
    if row is None:
        return None
    async with pool.connection() as conn:
        cur = await conn.execute(_FILE_EVENTS, (file_id,))
        row["events"] = await cur.fetchall()
    return row


async def _with_progress(pool: Pool, rows: list[Row]) -> list[Row]:
    """Each row with ``progress``: its transfer in flight, or None. Finished files have
    none, so a page of them costs no query."""
    moving = [row["id"] for row in rows if row["status"] not in FINISHED]
    progress = await transfer_progress.of_files(pool, moving) if moving else {}
    for row in rows:
        row["progress"] = progress.get(row["id"])
    return rows
