"""A server's archive directory, where its post-fetch ``move`` puts files: checked when an
operator enters it (the admin), expanded when a file is moved (discovery).

The syntax is small on purpose: a path, relative to the server's ``remote_dir`` or
absolute, whose ``%Y``, ``%m``, ``%d`` and ``%H`` are the file's storing time in UTC (four,
two, two and two digits) and ``%%`` a ``%``. Any other ``%`` is refused rather than
guessed, and so is a ``..`` component: a placeholder never expands to a ``/`` or ``..``,
so the checked text bounds every path it can become.
"""

import posixpath
import re
from datetime import UTC, datetime

_PLACEHOLDERS = {"Y": "%Y", "m": "%m", "d": "%d", "H": "%H", "%": "%"}
_TOKEN = re.compile(r"%(.?)", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_LENGTH = 1024


def check(template: str) -> str:
    """``template`` unchanged if it is a valid archive directory; a ``ValueError`` saying
    what is wrong otherwise."""
    if not template.strip():
        raise ValueError("must not be empty")
    if len(template) > MAX_LENGTH:
        raise ValueError(f"must be at most {MAX_LENGTH} characters")
    if _CONTROL.search(template):
        raise ValueError("must not contain control characters")
    for token in _TOKEN.finditer(template):
        if token.group(1) not in _PLACEHOLDERS:
            raise ValueError(f"{token.group(0)!r} is no placeholder: use %Y %m %d %H"
                             " (the storing date, UTC), or %% for a %")
    if ".." in template.split("/"):
        raise ValueError("must not contain '..': name the directory itself")
    if posixpath.normpath(template) == ".":
        raise ValueError("must name a directory other than the scanned one")
    return template


def is_absolute(template: str) -> bool:
    return template.startswith("/")


def expand(template: str, when: datetime) -> str:
    """The directory ``template`` names for a file stored at ``when``, as written: relative
    or absolute."""
    at = when.astimezone(UTC)
    return _TOKEN.sub(lambda token: at.strftime(_PLACEHOLDERS[token.group(1)])
                      if token.group(1) != "%" else "%", template)


def archive_directory(template: str, remote_dir: str, when: datetime) -> str:
    """Where a file of a server scanning ``remote_dir`` goes: a relative archive directory
    lies under ``remote_dir``; an absolute one stands alone."""
    return posixpath.normpath(posixpath.join(remote_dir, expand(check(template), when)))


def inside(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or under it (both absolute and normalised)."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")
