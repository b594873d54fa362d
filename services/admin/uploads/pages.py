"""``/upload``: send a file into the pipeline from the browser and watch it go through."""

from uuid import UUID

from litestar import get, post
from litestar.params import FromPath
from litestar.response import Template
from litestar.status_codes import HTTP_202_ACCEPTED

from infra.file_states import FINISHED
from services.admin.auth.csrf import EXCLUDE, form_csrf
from services.admin.dependencies import OutboxDep, PoolDep, SettingsDep, StorageDep
from services.admin.files import queries
from services.admin.rendering import AnyRequest, fragment, gone, is_htmx, page
from services.admin.uploads.accepting import accept_upload
from services.admin.uploads.uploading import UploadRejected


@get("/upload", include_in_schema=False)
async def upload_form(request: AnyRequest, settings: SettingsDep) -> Template:
    return page(request, "upload.html", section="upload", result=None,
                max_bytes=settings.max_upload_bytes)


@post("/upload", include_in_schema=False, request_max_body_size=None, opt={EXCLUDE: True})
async def upload_from_form(request: AnyRequest, pool: PoolDep, outbox: OutboxDep,
                           storage: StorageDep, settings: SettingsDep) -> Template:
    """Streams the file like ``POST /api/files``, its CSRF token checked on the way (not by
    the middleware, which would read the whole body first); answers with its id and a
    progress panel."""
    csrf = form_csrf(request)
    try:
        row = await accept_upload(request, pool=pool, outbox=outbox, objects=storage,
                                  settings=settings, csrf=csrf)
        result, status_code = {"file": row, "error": None}, HTTP_202_ACCEPTED
    except UploadRejected as exc:
        result, status_code = {"file": None, "error": exc.detail}, exc.status_code
    if is_htmx(request):
        return fragment("_upload_result.html", status_code=status_code, **result)
    return page(request, "upload.html", section="upload", result=result,
                max_bytes=settings.max_upload_bytes, status_code=status_code)


@get("/uploads/{file_id:uuid}/progress", include_in_schema=False)
async def upload_progress(file_id: FromPath[UUID], pool: PoolDep) -> Template:
    row = await queries.get_file(pool, file_id)
    if row is None:
        return gone("file")
    return fragment("_upload_progress.html", file=row, finished=FINISHED)
