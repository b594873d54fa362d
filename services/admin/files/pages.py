"""``/files``: the files table with the API's filters, and one file's timeline and actions."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from litestar import Controller, get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_404_NOT_FOUND, HTTP_409_CONFLICT

from infra.file_states import FINISHED, Status
from services.admin.cursor import decode_cursor, encode_cursor
from services.admin.dependencies import ObjectsDep, OutboxDep, PoolDep, SettingsDep
from services.admin.files import queries, remote_retrying, retrying
from services.admin.files.service import MAX_QUERY, NotStored, download_link, file_filter
from services.admin.rendering import AnyRequest, fragment, gone, not_found, page
from services.admin.servers import queries as server_queries

PAGE_SIZE = 50
_SUMMARY_KEYS = ("attempt", "seconds", "skipped_identical", "object_key", "reason", "to",
                 "retry_at")


@dataclass(frozen=True)
class Step:
    at: datetime
    event: str
    since_previous: timedelta | None
    since_start: timedelta
    size: int | None
    mb_per_s: float | None
    error: str | None
    facts: dict[str, Any]
    details: dict[str, Any]


def timeline(events: list[dict[str, Any]]) -> list[Step]:
    """The journal with the time each step took and what it moved, for people to read."""
    steps: list[Step] = []
    for event in events:
        details = event["details"] or {}
        previous = steps[-1].at if steps else None
        steps.append(Step(
            at=event["at"], event=event["event"],
            since_previous=event["at"] - previous if previous else None,
            since_start=event["at"] - (steps[0].at if steps else event["at"]),
            size=details.get("size"), mb_per_s=details.get("mb_per_s"),
            error=details.get("error"),
            facts={key: details[key] for key in _SUMMARY_KEYS if details.get(key) is not None},
            details=details,
        ))
    return steps


def _no_file(request: AnyRequest, file_id: UUID) -> Template:
    return not_found(request, section="files", text=f"There is no file with id {file_id}.")


def _files_url(**query: object) -> str:
    present = {key: value for key, value in query.items() if value not in (None, "")}
    return f"/files?{urlencode(present)}" if present else "/files"


def _parse_time(value: str | None, key: str) -> datetime | None:
    """``datetime-local`` inputs send ``2026-11-23T10:15``; taken as UTC like the page shows."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValidationException(
            f"{key} is not a date and time", extra=[{"key": key, "message": "use YYYY-MM-DDTHH:MM",
                                                      "source": "query"}],
        ) from None


class FilePages(Controller):
    path = "/files"
    include_in_schema = False

    @get()
    async def list_files(
        self,
        request: AnyRequest,
        pool: PoolDep,
        status: FromQuery[Status | None] = None,
        server_id: FromQuery[int | None] = None,
        q: Annotated[str | None, QueryParameter(max_length=MAX_QUERY)] = None,
        since: FromQuery[str | None] = None,
        until: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Template:
        where = file_filter(status=status, server_id=server_id, q=q,
                            since=_parse_time(since, "since"), until=_parse_time(until, "until"))
        rows, next_key = await queries.list_files(
            pool, where, after=decode_cursor(cursor) if cursor else None, limit=PAGE_SIZE
        )
        servers = await server_queries.list_servers(pool)
        filters = {"status": status, "server_id": server_id, "q": where.q,
                   "since": since, "until": until}
        return page(
            request, "files.html", section="files", files=rows, filters=filters,
            statuses=[str(s) for s in Status], servers=servers, finished=FINISHED,
            filtered=any(value not in (None, "") for value in filters.values()),
            first_page=cursor is None, first_url=_files_url(**filters),
            next_url=_files_url(**filters, cursor=encode_cursor(next_key)) if next_key else None,
        )

    @get("/{file_id:uuid}")
    async def file_detail(self, request: AnyRequest, file_id: FromPath[UUID],
                          pool: PoolDep) -> Template:
        row = await queries.get_file_with_events(pool, file_id)
        if row is None:
            return _no_file(request, file_id)
        return page(request, "file_detail.html", section="files", file=row,
                    timeline=timeline(row["events"]), finished=FINISHED, message=None)

    @get("/{file_id:uuid}/live")
    async def file_live(self, file_id: FromPath[UUID], pool: PoolDep) -> Template:
        """The detail page's changing part (status, facts, timeline), polled while it moves."""
        row = await queries.get_file_with_events(pool, file_id)
        if row is None:
            return gone("file")
        return fragment("_file_live.html", file=row, timeline=timeline(row["events"]),
                        finished=FINISHED, message=None)

    @get("/{file_id:uuid}/row")
    async def file_row(self, file_id: FromPath[UUID], pool: PoolDep) -> Template:
        """One row of the files table, polled while the file is in flight."""
        row = await queries.get_file(pool, file_id)
        if row is None:
            return gone("file")
        return fragment("_file_row.html", file=row, finished=FINISHED)

    @post("/{file_id:uuid}/retry", status_code=200)
    async def retry(self, request: AnyRequest, file_id: FromPath[UUID], pool: PoolDep,
                    outbox: OutboxDep, settings: SettingsDep) -> Template:
        try:
            done = await retrying.retry_file(pool, outbox, settings, file_id,
                                             by=str(request.user))
            message = {"kind": "ok", "text": f"Retrying: {done.from_status} → {done.to_status}."
                       if done else "This file no longer exists."}
            status_code = 200 if done else HTTP_404_NOT_FOUND
        except retrying.NotRetryable as exc:
            message, status_code = {"kind": "error", "text": str(exc)}, HTTP_409_CONFLICT
        row = await queries.get_file_with_events(pool, file_id)
        if row is None:
            return fragment("_message.html", status_code=status_code, **message)
        return fragment("_file_live.html", file=row, timeline=timeline(row["events"]),
                        finished=FINISHED, message=message, status_code=status_code)

    @post("/{file_id:uuid}/remote-action/retry", status_code=200)
    async def retry_remote_action(self, request: AnyRequest, file_id: FromPath[UUID],
                                  pool: PoolDep) -> Template:
        try:
            row = await remote_retrying.retry_remote_action(pool, file_id,
                                                            by=str(request.user))
            message, status_code = {"kind": "ok", "text": "The action on the server is due"
                                    " again: discovery tries it at its next scan."}, 200
        except remote_retrying.ActionNotGivenUp as exc:
            row = await queries.get_file_with_events(pool, file_id)
            message, status_code = {"kind": "error", "text": str(exc)}, HTTP_409_CONFLICT
        if row is None:
            return gone("file")
        return fragment("_file_live.html", file=row, timeline=timeline(row["events"]),
                        finished=FINISHED, message=message, status_code=status_code)

    @get("/{file_id:uuid}/download")
    async def download(self, request: AnyRequest, file_id: FromPath[UUID], pool: PoolDep,
                       objects: ObjectsDep, settings: SettingsDep) -> Redirect | Template:
        """Sends the browser to a short-lived presigned link of the stored object."""
        row = await queries.get_file(pool, file_id)
        if row is None:
            return _no_file(request, file_id)
        try:
            link = await download_link(objects, row, settings.presign_ttl_s)
        except NotStored as exc:
            return not_found(request, section="files", status_code=HTTP_409_CONFLICT,
                             text=f"{exc}. Wait until it is stored, or retry it if it failed.")
        return Redirect(link.url, status_code=HTTP_303_SEE_OTHER)
