"""``/api/files``: every file version, its journal, retries and download links."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.status_codes import HTTP_409_CONFLICT

from infra.file_states import Status
from services.admin.cursor import decode_cursor, encode_cursor
from services.admin.dependencies import ObjectsDep, OutboxDep, PoolDep, SettingsDep
from services.admin.errors import found, responses
from services.admin.files import queries, remote_retrying, retrying
from services.admin.files.schemas import (
    DownloadLink,
    FileDetail,
    FileOut,
    FilePage,
    RetryOut,
)
from services.admin.files.service import MAX_QUERY, NotStored, download_link, file_filter

MAX_PAGE = 500
_NOT_FOUND = "No file has this id"


class FileController(Controller):
    path = "/api/files"
    tags = ["files"]

    @get(responses=responses())
    async def list_files(
        self,
        pool: PoolDep,
        status: FromQuery[Status | None] = None,
        server_id: FromQuery[int | None] = None,
        q: Annotated[
            str | None,
            QueryParameter(max_length=MAX_QUERY, description="Part of the file name (any case)"),
        ] = None,
        since: Annotated[
            datetime | None, QueryParameter(description="Created at or after (UTC if no offset)")
        ] = None,
        until: Annotated[
            datetime | None, QueryParameter(description="Created before (UTC if no offset)")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
        cursor: Annotated[
            str | None, QueryParameter(description="next_cursor of the previous page")
        ] = None,
    ) -> FilePage:
        """Newest first; follow ``next_cursor`` for the next page (stable under inserts)."""
        where = file_filter(status=status, server_id=server_id, q=q, since=since, until=until)
        rows, next_key = await queries.list_files(
            pool, where, after=decode_cursor(cursor) if cursor else None, limit=limit
        )
        return FilePage(
            items=[FileOut.model_validate(row) for row in rows],
            next_cursor=encode_cursor(next_key) if next_key else None,
        )

    @get("/{file_id:uuid}", responses=responses(not_found=_NOT_FOUND))
    async def get_file(self, file_id: FromPath[UUID], pool: PoolDep) -> FileDetail:
        row = found(await queries.get_file_with_events(pool, file_id), "file", file_id)
        return FileDetail.model_validate(row)

    @post(
        "/{file_id:uuid}/retry",
        status_code=200,
        responses=responses(
            not_found=_NOT_FOUND,
            conflict="The file is not failed or missing, or an upload whose copy is gone",
        ),
    )
    async def retry_file(
        self, file_id: FromPath[UUID], pool: PoolDep, outbox: OutboxDep,
        settings: SettingsDep, request: Request[Any, Any, Any],
    ) -> RetryOut:
        """Restart a failed or missing file from its last good state (stored, downloaded or
        discovered), with its attempts reset."""
        try:
            done = await retrying.retry_file(
                pool, outbox, settings, file_id, by=str(request.user)
            )
        except retrying.NotRetryable as exc:
            raise HTTPException(status_code=HTTP_409_CONFLICT, detail=str(exc)) from exc
        done = found(done, "file", file_id)
        return RetryOut(id=done.file_id, from_status=Status(done.from_status),
                        to_status=Status(done.to_status), published=done.published)

    @post(
        "/{file_id:uuid}/remote-action/retry",
        status_code=200,
        responses=responses(not_found=_NOT_FOUND,
                            conflict="The file's post-fetch action is not given up"),
    )
    async def retry_remote_action(
        self, file_id: FromPath[UUID], pool: PoolDep, request: Request[Any, Any, Any],
    ) -> FileDetail:
        """Make a post-fetch action that was given up (``remote_action_state`` failed) due
        again, its attempts reset: discovery tries it at its next scan of the server."""
        try:
            row = await remote_retrying.retry_remote_action(pool, file_id,
                                                            by=str(request.user))
        except remote_retrying.ActionNotGivenUp as exc:
            raise HTTPException(status_code=HTTP_409_CONFLICT, detail=str(exc)) from exc
        return FileDetail.model_validate(found(row, "file", file_id))

    @get(
        "/{file_id:uuid}/download",
        responses=responses(not_found=_NOT_FOUND, conflict="The file is not stored yet"),
    )
    async def download(
        self, file_id: FromPath[UUID], pool: PoolDep, objects: ObjectsDep, settings: SettingsDep
    ) -> DownloadLink:
        """A presigned GET URL for the stored object, valid for ``presign_ttl_s`` seconds."""
        row = found(await queries.get_file(pool, file_id), "file", file_id)
        try:
            link = await download_link(objects, row, settings.presign_ttl_s)
        except NotStored as exc:
            raise HTTPException(status_code=HTTP_409_CONFLICT, detail=str(exc)) from exc
        return DownloadLink(url=link.url, expires_at=link.expires_at, bucket=link.bucket,
                            object_key=link.object_key)
