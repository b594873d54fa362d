"""The admin service's settings: credentials for the API and the console, and upload limits.

There are no defaults for the credentials: an admin that starts without them would be
open to anyone who reaches its port, so it refuses to start and says how to make them.
It refuses guessable secrets too (:func:`check_secret`).
"""

import math
from collections import Counter
from typing import Annotated

from pydantic import Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator
from pydantic_settings import NoDecode

from infra.settings import JobSourceSettings, PartnerKeySettings
from infra.storage import MAX_PART_SIZE, MIN_PART_SIZE, PART_SIZE
from services.admin.auth.passwords import parse_hash
from services.admin.dashboard.health_of_services import parse_service_urls

MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 128
GENERATE = {
    "INTAKE_ADMIN_TOKEN": "python -c 'import secrets; print(secrets.token_urlsafe(32))'",
    "INTAKE_ADMIN_PASSWORD_HASH": "python -m services.admin.hash_password",
    "INTAKE_SESSION_SECRET": "python -c 'import secrets; print(secrets.token_urlsafe(32))'",
}


def estimated_bits(secret: str) -> float:
    """The secret's length times the Shannon entropy of its characters' frequencies.

    Catches the secrets people type: ``a`` 32 times is 0 bits, ``password`` repeated 88,
    ``secrets.token_urlsafe(32)`` about 200 (170+ in 200,000 draws). Random hex needs 64 digits:
    32 hold 128 bits but count about 115, as 16 symbols in 32 places repeat.
    """
    counts = Counter(secret)
    return -sum(n * math.log2(n / len(secret)) for n in counts.values())


def check_secret(secret: str) -> None:
    """Raise ``ValueError`` saying which rule a token or session secret breaks.

    Whitespace is refused rather than stripped: an env file's stray trailing space would be
    part of the token, and no Authorization header carries it.
    """
    if any(char.isspace() for char in secret):
        raise ValueError("must not contain spaces or other whitespace (check its line's end)")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters long")
    if estimated_bits(secret) < MIN_SECRET_BITS:
        raise ValueError(
            f"is too guessable: it needs at least {MIN_SECRET_BITS} bits by an estimate of its "
            "randomness (its length times the Shannon entropy of its characters); a random "
            "value of 43 URL-safe or 64 hex characters passes"
        )


class AdminSettingsError(SystemExit):
    """Raised instead of starting with missing or unusable settings; the text says the fix."""


class AdminSettings(PartnerKeySettings, JobSourceSettings):
    admin_token: SecretStr = Field(
        description="Bearer token for /api/* (Authorization: Bearer <token>): 32+ characters,"
                    " no whitespace, 128+ bits estimated"
    )
    admin_user: str = Field("admin", min_length=1, max_length=64,
                            description="User name for the HTML console")
    admin_password_hash: SecretStr = Field(
        description="scrypt hash of the console password (python -m services.admin.hash_password)"
    )
    session_secret: SecretStr = Field(
        description="Signs and encrypts the console's session and CSRF cookies: 32+ characters,"
                    " no whitespace, 128+ bits estimated"
    )
    cookie_secure: bool = Field(
        False, description="Mark cookies Secure: set it whenever the console is served over HTTPS"
    )
    session_max_age_s: int = Field(8 * 3600, ge=60, le=30 * 24 * 3600,
                                   description="A console login lasts this long")
    presign_ttl_s: int = Field(900, ge=1, le=7 * 24 * 3600,
                               description="How long a download link stays valid")
    s3_public_endpoint: str | None = Field(
        None, description="host:port browsers use for S3 in download links (default s3_endpoint)"
    )
    stats_max_age_s: float = Field(
        2.0, ge=0, le=60, description="Dashboard and /api/stats numbers are at most this old"
    )
    metrics_max_age_s: float = Field(
        5.0, ge=0, le=300,
        description="The pipeline gauges of /metrics (files by status, queue depths, partner"
                    " health) are computed at most once per this many seconds",
    )
    max_upload_bytes: int = Field(5 * 1024**3, ge=1, description="Largest accepted upload")
    upload_part_bytes: int = Field(
        PART_SIZE, ge=MIN_PART_SIZE, le=MAX_PART_SIZE,
        description="Parts an upload is sent to storage in (more when max_upload_bytes needs"
                    " them larger); memory per upload is about two parts",
    )
    upload_abandoned_after_s: int = Field(
        24 * 3600, ge=3600,
        description="An upload still unfinished this long after it began is aborted (its"
                    " admin died mid-upload): no upload may take longer",
    )
    janitor_interval_seconds: float = Field(
        300, gt=0, description="How often abandoned uploads are looked for"
    )
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="Reverse proxies (addresses or CIDRs, comma-separated) whose forwarding"
                    " header names the client a login comes from; no other peer's is read",
    )
    trusted_proxy_header: str = Field(
        "X-Forwarded-For", min_length=1, description="The header the trusted proxies set"
    )
    service_urls: str = Field(
        "", description="NAME=URL,... of the services whose /readyz the dashboard shows"
                        " (run.sh and compose set it); empty: no services panel",
    )

    @field_validator("admin_token", "session_secret")
    @classmethod
    def _strong(cls, value: SecretStr) -> SecretStr:
        check_secret(value.get_secret_value())
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [part for part in value.replace(",", " ").split()] if isinstance(value, str) \
            else value

    @field_validator("service_urls")
    @classmethod
    def _service_urls(cls, value: str) -> str:
        parse_service_urls(value)
        return value

    @field_validator("admin_password_hash")
    @classmethod
    def _readable_hash(cls, value: SecretStr) -> SecretStr:
        parse_hash(value.get_secret_value())
        return value


def load_settings() -> AdminSettings:
    """Settings from the environment, or an exit whose message names each variable to fix.

    Only locations and messages are shown, never the rejected values (they may be secrets).
    """
    try:
        return AdminSettings()  # type: ignore[call-arg]  # read from the environment
    except ValidationError as exc:
        lines = ["the admin service cannot start; fix these settings:"]
        names = []
        for error in exc.errors(include_input=False, include_url=False):
            name = "INTAKE_" + "_".join(str(part) for part in error["loc"]).upper()
            names.append(name)
            lines.append(f"  {name}: {error['msg'].removeprefix('Value error, ')}")
        hints = [f"  {name}=$({GENERATE[name]})" for name in names if name in GENERATE]
        if hints:
            lines += ["make new values with:", *hints]
        raise AdminSettingsError("\n".join(lines)) from None
