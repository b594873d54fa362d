"""``/jobs``: the console's processing jobs: the recent ones, one job's progress and result,
and a job started from a stored file's page."""

from typing import Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.params import FromPath

from infra import jobs
from infra.jobs import JobRow
from services.admin.dependencies import OutboxDep, PoolDep
from services.admin.jobs import queries
from services.admin.jobs.sources import FileNotStored, stored_file_source
from services.admin.rendering import AnyRequest, fragment, gone, message, not_found, page

PAGE_SIZE = 50
DEFAULT_OPTIONS: dict[str, Any] = {"step": 10, "offset": 10, "header": None, "delimiter": ","}


def _moving(job: JobRow) -> bool:
    return job.status not in jobs.FINISHED


class JobPages(Controller):
    path = "/jobs"
    include_in_schema = False

    @get()
    async def list_jobs(self, request: AnyRequest, pool: PoolDep) -> Any:
        rows = await queries.list_jobs(pool, status=None, limit=PAGE_SIZE)
        return page(request, "jobs.html", section="jobs", jobs=rows,
                    in_progress=await queries.in_progress(pool))

    @get("/{job_id:uuid}")
    async def job_detail(self, request: AnyRequest, job_id: FromPath[UUID],
                         pool: PoolDep) -> Any:
        job = await jobs.get(pool, job_id)
        if job is None:
            return not_found(request, section="jobs", text=f"There is no job with id {job_id}.")
        return page(request, "job_detail.html", section="jobs", job=job, moving=_moving(job))

    @get("/{job_id:uuid}/live")
    async def job_live(self, job_id: FromPath[UUID], pool: PoolDep) -> Any:
        """The job page's changing part, polled while the job is queued or running."""
        job = await jobs.get(pool, job_id)
        if job is None:
            return gone("job")
        return fragment("_job_live.html", job=job, moving=_moving(job))


@post("/files/{file_id:uuid}/jobs", include_in_schema=False, status_code=200)
async def sum_file_columns(file_id: FromPath[UUID], pool: PoolDep,
                           outbox: OutboxDep) -> Any:
    """The file page's "Sum columns": a job on the stored file, then its page."""
    try:
        source = await stored_file_source(pool, file_id)
    except FileNotStored as exc:
        return message(str(exc), kind="error", status_code=404)
    row, outgoing = await jobs.create(pool, source=source, options=DEFAULT_OPTIONS,
                                      file_id=file_id)
    await outbox.send(outgoing)
    return Response(content=b"", headers={"HX-Redirect": f"/jobs/{row.id}"})
