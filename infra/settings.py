"""Settings read from the environment (``INTAKE_*``) by pydantic-settings.

Each service builds its settings in ``create_app``; nothing here is read at import.
"""

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import SPOOL_ID_PATTERN, Stage, Topology
from infra.spool.paths import Spool

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def well_known_credentials(name: str, value: str) -> bool:
    """Whether setting ``name`` holds credentials anyone can guess: MinIO's minioadmin,
    RabbitMQ's guest (an AMQP URL without a user means guest too), or PostgreSQL's postgres
    superuser without a real password on a host other than this one."""
    if name in ("s3_access_key", "s3_secret_key"):
        return value == "minioadmin"
    url = urlsplit(value)
    if name == "amqp_url":
        return (url.username or "guest") == "guest" and (url.password or "guest") == "guest"
    return (url.username == "postgres" and (url.password or "postgres") == "postgres"
            and (url.hostname or "localhost") not in LOOPBACK_HOSTS)


class DatabaseSettings(BaseSettings):
    """Where the database is: all that ``python -m services migrate`` needs."""

    # Errors never show the rejected input: it may be a password.
    model_config = SettingsConfigDict(env_prefix="INTAKE_", env_file=None, extra="ignore",
                                      hide_input_in_errors=True)

    # First: the credential check below reads it while the later fields are validated.
    allow_default_credentials: bool = Field(
        False, description="Accept well-known credentials (minioadmin, guest:guest, postgres"
                           " without a password): only for development on this machine",
    )
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/intake")
    db_pool_min: int = Field(1, ge=1)
    db_pool_max: int = Field(8, ge=1)
    migrate_on_start: bool = Field(
        True, description="Apply migrations at start; false: only check that the schema is"
                          " current (services whose database role has no DDL rights)",
    )

    @field_validator("database_url", "amqp_url", "s3_access_key", "s3_secret_key",
                     check_fields=False)
    @classmethod
    def _not_well_known(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        """The one check that no service starts with default credentials; the error names
        the setting (pydantic shows the field), never its value."""
        assert info.field_name is not None
        if (not info.data.get("allow_default_credentials")
                and well_known_credentials(info.field_name, value.get_secret_value())):
            raise ValueError(
                "holds well-known default credentials: set real ones (./run.sh generates"
                " them into .state/intake.env), or INTAKE_ALLOW_DEFAULT_CREDENTIALS=true"
                " for development on this machine"
            )
        return value


class Settings(DatabaseSettings):
    """What every service needs: where the database, broker, storage and spool are."""

    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    amqp_prefix: str = Field("intake", pattern=r"^[A-Za-z0-9_.-]+$")
    prefetch: int = Field(4, ge=1, le=1000, description="Messages one replica works on at once")

    s3_endpoint: str = "127.0.0.1:8333"
    s3_access_key: SecretStr = SecretStr("minioadmin")
    s3_secret_key: SecretStr = SecretStr("minioadmin")
    s3_secure: bool = False
    s3_region: str | None = None
    s3_bucket: str = "intake"

    spool_dir: Path = Path(".state/spool")
    spool_id: str | None = Field(
        None, pattern=SPOOL_ID_PATTERN,
        description="This host's spool identity, shared by the downloader and uploader that"
                    " share the spool directory; unset: the one kept in the directory's"
                    " .spool-id file (made on first start), so a wiped disk is a new spool",
    )
    spool_heartbeat_seconds: float = Field(
        10.0, gt=0, description="How often an uploader shows that its spool is alive")
    spool_lost_after_seconds: int = Field(
        60, ge=2,
        description="A spool not seen this long is lost: its files are downloaded again")
    spool_queue_expires_seconds: int = Field(
        900, ge=60, description="How long RabbitMQ keeps a spool's queues once unused")
    max_spool_losses: int = Field(
        3, ge=1, description="Copies of one file lost in a row before it is failed")

    http_host: str = "127.0.0.1"
    http_port: int = Field(8100, ge=0, le=65535,
                           description="0: a free port, which the log's startup line names")
    log_level: str = "INFO"
    git_commit: str | None = Field(
        None, description="The git commit this build was made from, intake_build_info's"
                          " commit label (the image sets it); unset: git's, in a checkout",
    )

    max_attempts: int = Field(5, ge=1, description="Attempts per stage before a file is failed")
    lease_seconds: int = Field(
        60, ge=10, description="How long a claim lasts unless renewed (a dead worker's files wait)"
    )

    outbox_grace_seconds: float = Field(
        10.0, gt=0,
        description="An outbox row this old is relayed: the process that committed its state"
                    " change died, or its broker refused, before the message was published",
    )
    outbox_relay_seconds: float = Field(
        2.0, gt=0, description="How often every pipeline service relays the outbox")
    fault_exit_after_commit: Stage | None = Field(
        None, description="Tests only: the process exits (137) right after committing a state"
                          " change whose message goes to this stage, before publishing it",
    )

    stream_upload_min_bytes: int = Field(
        64 * 1024 * 1024, ge=0,
        description="Files at least this large are uploaded while they download and resume"
                    " an interrupted upload from its stored parts; 0: upload after download",
    )

    progress_seconds: float = Field(
        2.0, gt=0,
        description="How often a transfer in flight (a whole file's download or a multipart"
                    " upload) records its bytes done and rate for the admin; shown until"
                    " three of these pass without a new sample",
    )

    sftp_connect_timeout: float = Field(15.0, gt=0)
    sftp_io_timeout: float = Field(60.0, gt=0)
    sftp_idle_seconds: float = Field(
        10.0, ge=0,
        description="How long an unused SFTP session stays open for the next file; it holds"
                    " one of its server's session slots all the while (0: closed at once)")
    session_slot_lease_seconds: int = Field(
        30, ge=6,
        description="A session slot's lease, renewed while its session is open: how long the"
                    " slots of a crashed process stay taken")
    session_slot_wait_seconds: float = Field(
        20.0, gt=0,
        description="How long work waits for a free session slot of its server before it is"
                    " put back (a file: on its queue for as long again; a scan: to its next"
                    " poll), without counting as a failure")

    def large_file(self, size: int) -> bool:
        """Whether a file of ``size`` bytes is uploaded while it downloads, in recorded parts
        (``stream_upload_min_bytes``), rather than in one go after its download."""
        return 0 < self.stream_upload_min_bytes <= size

    @property
    def topology(self) -> Topology:
        return Topology(self.amqp_prefix)

    @property
    def spool(self) -> Spool:
        return Spool(self.spool_dir)


class PartnerKeySettings(Settings):
    """A service that reads or writes partner credentials (discovery, the downloader, the
    admin): only these are given the key; the uploader and the notifier never see it."""

    secret_key: SecretStr = Field(
        description="Fernet key that encrypts SFTP passwords and private keys at rest; several"
                    " separated by commas while rotating (the first encrypts)",
    )


class JobSourceSettings(Settings):
    """Where processing jobs may read from: for the processor, and for the admin, which
    checks a job's source before it is queued."""

    jobs_local_root: Path | None = Field(
        None, description="Jobs may read files under this directory (unset: no local files)")
    jobs_buckets: list[str] | None = Field(
        None, description="Buckets jobs may read besides INTAKE_S3_BUCKET (a JSON list)")

    @property
    def job_buckets(self) -> frozenset[str]:
        """Every bucket jobs may read."""
        return frozenset({self.s3_bucket, *(self.jobs_buckets or ())})
