"""``/api/jobs``: start a processing job (CSV column sums), follow it, read its result."""

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_422_UNPROCESSABLE_ENTITY

from infra import jobs
from infra.jobs import JobRow
from services.admin.dependencies import OutboxDep, PoolDep, SettingsDep, StorageDep
from services.admin.errors import found, responses
from services.admin.jobs import queries
from services.admin.jobs.schemas import JobAccepted, JobIn, JobList, JobOut, JobProgress
from services.admin.jobs.sources import FileNotStored, SourceRejected, job_source

MAX_PAGE = 200


def job_out(row: JobRow) -> JobOut:
    return JobOut(
        id=row.id, status=row.status, source=row.source, file_id=row.file_id,
        options=row.options, attempts=row.attempts,
        progress=JobProgress(bytes_done=row.bytes_done, bytes_total=row.bytes_total,
                             rows_done=row.rows_done),
        result=row.result, error=row.error, created_at=row.created_at,
        started_at=row.started_at, finished_at=row.finished_at, rule=row.rule)


class JobController(Controller):
    path = "/api/jobs"
    tags = ["jobs"]

    @post(status_code=HTTP_202_ACCEPTED, responses=responses(
        not_found="No stored file has the file_id",
        more={422: "A source no job may read: a bucket not allowed, a missing object, a"
                   " path outside the local root"}))
    async def start(self, data: JSONBody[JobIn], pool: PoolDep, storage: StorageDep,
                    settings: SettingsDep, outbox: OutboxDep) -> JobAccepted:
        """Queue a job; it runs on a processor worker. Poll ``GET /api/jobs/{id}``."""
        try:
            source = await job_source(data, pool=pool, storage=storage, settings=settings)
        except FileNotStored as exc:
            raise NotFoundException(str(exc)) from None
        except SourceRejected as exc:
            raise HTTPException(str(exc), status_code=HTTP_422_UNPROCESSABLE_ENTITY) from None
        row, outgoing = await jobs.create(pool, source=source, options=data.options(),
                                          file_id=data.file_id)
        await outbox.send(outgoing)
        return JobAccepted(id=row.id)

    @get("/{job_id:uuid}", responses=responses(not_found="No job has this id"))
    async def get_job(self, pool: PoolDep, job_id: FromPath[UUID]) -> JobOut:
        """Status, progress, and once succeeded the result."""
        return job_out(found(await jobs.get(pool, job_id), "job", job_id))

    @get(responses=responses())
    async def list_jobs(
        self, pool: PoolDep,
        status: Annotated[str | None, QueryParameter(
            pattern="^(queued|running|succeeded|failed)$")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> JobList:
        """Newest first; ``in_progress`` counts the jobs queued or running."""
        rows = await queries.list_jobs(pool, status=status, limit=limit)
        return JobList(items=[job_out(row) for row in rows],
                       in_progress=await queries.in_progress(pool))
