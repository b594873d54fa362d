"""``/api/files``: every file version, its journal, retries, download links and uploads."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.exceptions import HTTPException
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_409_CONFLICT

from infra.file_states import Status
from services.admin.cursor import decode_cursor, encode_cursor
from services.admin.dependencies import ObjectsDep, PoolDep, PublisherDep, SettingsDep
from services.admin.errors import found, responses
from services.admin.files import queries, retrying
from services.admin.files.schemas import (
    DownloadLink,
    FileDetail,
    FileOut,
    FilePage,
    RetryOut,
    UploadAccepted,
)
from services.admin.files.service import (
    MAX_QUERY,
    NotStored,
    accept_upload,
    download_link,
    file_filter,
)
from services.admin.uploads.uploading import FIELD, UploadRejected

MAX_PAGE = 500
_NOT_FOUND = "No file has this id"


@dataclass
class UploadOperation(Operation):
    """Documents the multipart body the upload handler reads itself, as a stream."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description=f"The file, in the multipart field {FIELD!r}",
            content={
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        properties={
                            FIELD: Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                        },
                        required=[FIELD],
                    )
                )
            },
        )


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
        self, file_id: FromPath[UUID], pool: PoolDep, publisher: PublisherDep,
        settings: SettingsDep, request: Request[Any, Any, Any],
    ) -> RetryOut:
        """Restart a failed or missing file from its last good state (stored, downloaded or
        discovered), with its attempts reset."""
        try:
            done = await retrying.retry_file(
                pool, publisher, settings.spool_dir, file_id, by=str(request.user)
            )
        except retrying.NotRetryable as exc:
            raise HTTPException(status_code=HTTP_409_CONFLICT, detail=str(exc)) from exc
        done = found(done, "file", file_id)
        return RetryOut(id=done.file_id, from_status=Status(done.from_status),
                        to_status=Status(done.to_status), published=done.published)

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

    @post(
        status_code=HTTP_202_ACCEPTED,
        request_max_body_size=None,  # streamed; uploading.receive enforces max_upload_bytes
        operation_class=UploadOperation,
        responses=responses(more={
            400: "No file field, or a malformed multipart body",
            413: "Larger than INTAKE_MAX_UPLOAD_BYTES",
            415: "Not multipart/form-data",
            507: "The spool volume has no room for it",
        }),
    )
    async def upload(
        self, request: Request[Any, Any, Any], pool: PoolDep, publisher: PublisherDep,
        settings: SettingsDep,
    ) -> UploadAccepted:
        """Upload a file (multipart field ``file``). It is streamed to the spool and hashed,
        recorded as ``downloaded``, and stored and announced by the pipeline like any other."""
        try:
            row = await accept_upload(request, pool=pool, publisher=publisher, settings=settings)
        except UploadRejected as exc:
            raise HTTPException(status_code=exc.status_code, detail=exc.detail) from exc
        return UploadAccepted.model_validate(row)
