"""CSRF for the upload form, which reads its own body.

Litestar's CSRF middleware looks for the token in a plain form's fields by parsing the
whole body first, so a 20 MiB file would be buffered before a 1,000-byte limit refused it.
The upload form is excluded from that middleware (``opt={EXCLUDE: True}``) and checked
here instead, with the middleware's own token format: the ``x-csrftoken`` header at once,
or the ``_csrf_token`` field, which the form sends before its file, as the body streams.
"""

import hmac
from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.exceptions import PermissionDeniedException
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, generate_csrf_hash
from litestar.utils.scope.state import ScopeState

EXCLUDE = "exclude_from_csrf"  # CSRFConfig.exclude_from_csrf_key's default

CsrfCheck = Callable[[str], bool]


def _secret_of(token: str, secret: str) -> bytes | None:
    value, mac = token[:CSRF_SECRET_LENGTH], token[CSRF_SECRET_LENGTH:]
    expected = generate_csrf_hash(token=value, secret=secret)
    if not mac or not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    return value.encode()


def tokens_match(secret: str, offered: str, cookie: str) -> bool:
    mine, theirs = _secret_of(offered, secret), _secret_of(cookie, secret)
    return mine is not None and theirs is not None and hmac.compare_digest(mine, theirs)


def form_csrf(request: Request[Any, Any, Any]) -> CsrfCheck | None:
    """None when the request's CSRF header is valid, else the check its form field must
    pass; raises PermissionDeniedException for a wrong header."""
    config = request.app.csrf_config
    assert config is not None
    cookie = request.cookies.get(config.cookie_name) or ""
    if cookie:  # the token the answer's page carries on, as the middleware would set it
        ScopeState.from_scope(request.scope).csrf_token = cookie

    def check(offered: str) -> bool:
        return bool(cookie) and tokens_match(config.secret, offered, cookie)

    header = request.headers.get(config.header_name)
    if header is None:
        return check
    if not check(header):
        raise PermissionDeniedException("CSRF token verification failed")
    return None
