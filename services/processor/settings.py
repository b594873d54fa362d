from pathlib import Path

from pydantic import Field

from infra.settings import JobSourceSettings


class ProcessorSettings(JobSourceSettings):
    job_concurrency: int = Field(
        1, ge=1, le=64, description="Jobs one worker runs at once (a job keeps a core busy:"
                                    " add workers to run more)")
    results_log: Path = Field(
        Path(".state/results.log"),
        description="The log every worker appends one JSON line to per finished job")
    job_progress_seconds: float = Field(
        2.0, gt=0, description="How often a running job records its progress (and lease)")
    job_reconcile_seconds: float = Field(
        15.0, gt=0, description="How often stalled jobs are looked for")
    job_redrive_after_seconds: float = Field(
        600, gt=0, description="A queued job untouched this long gets its message again")
    s3_read_retries: int = Field(
        8, ge=0, description="Times in a row a job's S3 read resumes a dropped connection")
