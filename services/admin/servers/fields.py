"""The field types of a server's settings: what each accepts, and what OpenAPI says of it.

The checks catch a bad configuration when it is entered rather than at discovery's next
poll; the API and the console's forms both go through them, so both say the same words.
"""

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, StringConstraints

from infra import archive_paths
from services.admin.servers.ssh_keys import check_private_key, normalise_host_key

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
# RFC 1123 labels, plus "_" which container and internal DNS names often carry.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WEEK_S = 7 * 24 * 3600

# What the OpenAPI document says of these strings (the validators decide).
_HOST_SCHEMA: dict[str, Any] = {
    "anyOf": [{"pattern": rf"^{_LABEL}(?:\.{_LABEL})*\.?$"}, {"format": "ipv6"}],
    "description": "A hostname or an IPv4/IPv6 address",
}
_PRINTABLE_SCHEMA: dict[str, Any] = {"pattern": r"^[^\x00-\x1f\x7f]+$"}
_PATTERN_SCHEMA: dict[str, Any] = {"pattern": r"^[^/\x00-\x1f\x7f]+$"}
_JOB_PATTERN_SCHEMA: dict[str, Any] = {"pattern": r"^[^/\\\[\]{}\x00-\x1f\x7f]*$"}
# Characters other globs give a meaning that the rule's matching would not.
_NOT_WILDCARDS = frozenset("[]{}\\")
# Documents in the OpenAPI schema that the secrets are accepted but never returned.
WRITE_ONLY: dict[str, Any] = {"writeOnly": True}


def _check_host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.fullmatch(value):
            raise ValueError("must be a hostname or an IP address, without spaces") from None
    return value


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _check_pattern(value: str) -> str:
    if "/" in value:
        raise ValueError("is matched against file names, so it cannot contain '/'")
    return _printable(value)


def _check_job_pattern(value: str) -> str:
    if "/" in value:
        raise ValueError("is matched against file names, so it cannot contain '/'")
    if found := sorted(_NOT_WILDCARDS.intersection(value)):
        raise ValueError(f"only * (any characters) and ? (one character) are wildcards;"
                         f" {' '.join(found)} cannot be used")
    return _printable(value)


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


def _check_password(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise ValueError("must not be empty; send null to remove the password")
    return value


def _check_private_key(value: SecretStr) -> SecretStr:
    return SecretStr(check_private_key(value.get_secret_value()))


Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Host = Annotated[
    str, StringConstraints(min_length=1, max_length=253), AfterValidator(_check_host),
    Field(json_schema_extra=_HOST_SCHEMA),
]
Port = Annotated[int, Field(ge=1, le=65535)]
Username = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_printable),
    Field(json_schema_extra=_PRINTABLE_SCHEMA),
]
Password = Annotated[SecretStr, Field(max_length=1024), AfterValidator(_check_password)]
PrivateKey = Annotated[SecretStr, Field(max_length=16384), AfterValidator(_check_private_key)]
RemoteDir = Annotated[
    str, StringConstraints(min_length=1, max_length=4096), AfterValidator(_printable),
    Field(json_schema_extra=_PRINTABLE_SCHEMA),
]
Pattern = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_check_pattern),
    Field(json_schema_extra=_PATTERN_SCHEMA),
]
_JobGlob = Annotated[
    str, StringConstraints(max_length=200), AfterValidator(_check_job_pattern),
    Field(json_schema_extra=_JOB_PATTERN_SCHEMA),
]
# ``""`` is taken for null (no rule), as an emptied form field is.
JobPattern = Annotated[_JobGlob | None, BeforeValidator(_empty_is_none)]
PollInterval = Annotated[int, Field(ge=1, le=_WEEK_S)]
MinFileAge = Annotated[int, Field(ge=0, le=_WEEK_S)]
MaxConnections = Annotated[int, Field(ge=1, le=64)]
PostFetch = Annotated[Literal["keep", "delete", "move"], Field(
    description="What happens to a file on the server once it is stored: kept, deleted, or"
                " moved into archive_dir")]
ArchiveDir = Annotated[
    str, StringConstraints(min_length=1, max_length=archive_paths.MAX_LENGTH),
    AfterValidator(archive_paths.check),
    Field(description="Where 'move' puts files: relative to remote_dir, or absolute; %Y %m %d"
                      " %H are the file's storing date (UTC), %% a %; no '..'",
          json_schema_extra=_PRINTABLE_SCHEMA),
]
HostKey = Annotated[str, StringConstraints(max_length=16384), AfterValidator(normalise_host_key)]
