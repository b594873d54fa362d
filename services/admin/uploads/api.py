"""``POST /api/files``: a file uploaded into the pipeline, streamed into the bucket."""

from dataclasses import dataclass
from typing import Any

from litestar import Request, post
from litestar.exceptions import HTTPException
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.status_codes import HTTP_202_ACCEPTED

from services.admin.dependencies import OutboxDep, PoolDep, SettingsDep, StorageDep
from services.admin.errors import responses
from services.admin.uploads.accepting import accept_upload
from services.admin.uploads.schemas import UploadAccepted
from services.admin.uploads.uploading import FIELD, UploadRejected


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


@post(
    "/api/files",
    tags=["files"],
    status_code=HTTP_202_ACCEPTED,
    request_max_body_size=None,  # streamed; uploading.receive enforces max_upload_bytes
    operation_class=UploadOperation,
    responses=responses(more={
        400: "No file field, or a malformed multipart body",
        413: "Larger than INTAKE_MAX_UPLOAD_BYTES",
        415: "Not multipart/form-data",
        503: "Object storage is unavailable or refused the upload: nothing was kept",
    }),
)
async def upload(
    request: Request[Any, Any, Any], pool: PoolDep, outbox: OutboxDep,
    storage: StorageDep, settings: SettingsDep,
) -> UploadAccepted:
    """Upload a file (multipart field ``file``). It is streamed into the bucket and hashed,
    recorded as ``stored``, and announced by the pipeline like any other."""
    try:
        row = await accept_upload(request, pool=pool, outbox=outbox, objects=storage,
                                  settings=settings)
    except UploadRejected as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.detail) from exc
    return UploadAccepted.model_validate(row)
