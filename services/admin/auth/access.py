"""Who may use the admin: a bearer token for ``/api/*``, a login session for the pages.

* ``/api/*`` needs ``Authorization: Bearer <INTAKE_ADMIN_TOKEN>``; anything else is a 401
  JSON answer. The token is compared as a SHA-256 digest with ``hmac.compare_digest``, so
  neither its content nor its length leaks through timing.
* Pages need a session from ``/login``: an AES-GCM encrypted cookie (HttpOnly,
  SameSite=Lax, Secure when ``cookie_secure``) that names the user, when it was issued and
  a marker derived from the password hash, so changing the password or the session secret
  ends every session. Without one, a page redirects to ``/login``.
* ``/schema`` (the OpenAPI document and its viewers, the AsyncAPI document) takes either;
  without one, a document (``/schema/openapi.json``, ``.yaml``, ``/schema/asyncapi.json``)
  answers 401 JSON, the viewers redirect.
* Open: ``/healthz``, ``/readyz``, ``/metrics``, ``/login`` and ``/static/*``.

Unsafe requests from pages carry a CSRF token (Litestar's CSRFMiddleware, configured in
:func:`csrf_config`): in a hidden ``_csrf_token`` field for plain forms, in the
``x-csrftoken`` header for htmx requests. The API is exempt: a browser never adds a bearer
header on its own, so a forged cross-site request cannot authenticate there.
"""

import asyncio
import hashlib
import hmac
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar.types import ASGIApp

from services.admin.auth.passwords import parse_hash, verify_password
from services.admin.auth.throttle import LoginThrottle
from services.admin.settings import AdminSettings

OPEN_PATHS = ["^/healthz$", "^/readyz$", "^/metrics$", "^/login$", "^/static/"]
SESSION_COOKIE = "intake_session"
CSRF_COOKIE = "intake_csrf"
CSRF_HEADER = "x-csrftoken"

# scrypt needs 128 MiB per check: bound how many run at once and how many may wait.
_CONCURRENT_CHECKS = 2
_WAITING_CHECKS = 8


def _derive(secret: str, label: str) -> bytes:
    return hmac.new(secret.encode(), label.encode(), hashlib.sha256).digest()


class LoginRequired(NotAuthorizedException):
    """A page was asked for without a valid session; answered with a way to /login."""


class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


class LoginBusy(Exception):
    """As many password checks as allowed are running or waiting: try again shortly."""


class Credentials:
    """Checks bearer tokens, sessions and passwords against the settings."""

    def __init__(self, settings: AdminSettings) -> None:
        self.user = settings.admin_user
        self.max_age = settings.session_max_age_s
        self._token = hashlib.sha256(settings.admin_token.get_secret_value().encode()).digest()
        encoded = settings.admin_password_hash.get_secret_value()
        self._password = parse_hash(encoded)
        secret = settings.session_secret.get_secret_value()
        self._marker = _derive(secret, f"session:{self.user}:{encoded}").hex()[:32]
        # A pool of its own, not a semaphore around to_thread: a cancelled request must not
        # free a slot while its check still runs.
        self._checks = ThreadPoolExecutor(_CONCURRENT_CHECKS, thread_name_prefix="scrypt")
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._throttle = LoginThrottle()

    def bearer_ok(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        offered = hashlib.sha256(token.strip().encode()).digest()
        return hmac.compare_digest(offered, self._token)

    def session_user(self, session: Any) -> str | None:
        if not isinstance(session, dict):
            return None
        issued = session.get("iat")
        if (
            session.get("user") != self.user
            or not isinstance(issued, int)
            or time.time() - issued > self.max_age
            or not hmac.compare_digest(str(session.get("marker", "")), self._marker)
        ):
            return None
        return self.user

    def new_session(self) -> dict[str, Any]:
        return {"user": self.user, "marker": self._marker, "iat": int(time.time())}

    async def check_login(self, client: str, user: str, password: str) -> bool:
        """True for the right user and password; raises LoginThrottled after repeated misses
        of ``client``, LoginBusy when too many checks are running or waiting.

        The password is verified even for an unknown user, so timing does not reveal it.
        """
        with self._pending_lock:  # the count goes down in the checking thread
            if self._pending >= _CONCURRENT_CHECKS + _WAITING_CHECKS:
                raise LoginBusy
            wait = self._throttle.reserve(client)
            if wait:
                raise LoginThrottled(math.ceil(wait))
            self._pending += 1
        check = self._checks.submit(verify_password, password, self._password)
        check.add_done_callback(self._check_done)
        good = await asyncio.wrap_future(check)
        good = good and hmac.compare_digest(user.encode(), self.user.encode())
        if good:
            self._throttle.succeeded(client)
        return good

    def _check_done(self, _: Future[bool]) -> None:
        with self._pending_lock:
            self._pending -= 1


class AdminAuthMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, credentials: Credentials) -> None:
        super().__init__(app, exclude=OPEN_PATHS, scopes={ScopeType.HTTP})
        self.credentials = credentials

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        path: str = connection.scope["path"]
        bearer = connection.headers.get("authorization")
        if path == "/api" or path.startswith("/api/"):
            if self.credentials.bearer_ok(bearer):
                return AuthenticationResult(user=self.credentials.user, auth="bearer")
            raise _bearer_required()
        user = self.credentials.session_user(connection.scope.get("session"))
        if user is not None:
            return AuthenticationResult(user=user, auth="session")
        if path.startswith("/schema") and self.credentials.bearer_ok(bearer):
            return AuthenticationResult(user=self.credentials.user, auth="bearer")
        if path.startswith(("/schema/openapi.", "/schema/asyncapi.")):  # documents: for scripts
            raise _bearer_required()
        raise LoginRequired("log in first")


def _bearer_required() -> NotAuthorizedException:
    return NotAuthorizedException(
        "send 'Authorization: Bearer <token>' with the admin token (INTAKE_ADMIN_TOKEN)",
        headers={"WWW-Authenticate": 'Bearer realm="intake-admin"'},
    )


def safe_next(target: str | None) -> str:
    """Where to go after logging in: only a path on this site, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_redirect(request: Request[Any, Any, Any], exc: LoginRequired) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/login" if target == "/" else f"/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        # htmx does not follow a redirect for a fragment; it navigates on HX-Redirect.
        return Response(content="", status_code=401, headers={"HX-Redirect": location})
    return Redirect(location, status_code=HTTP_303_SEE_OTHER)


def session_config(settings: AdminSettings) -> CookieBackendConfig:
    return CookieBackendConfig(
        secret=_derive(settings.session_secret.get_secret_value(), "session-cookie"),
        key=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
        exclude=["^/api/", "^/healthz$", "^/readyz$", "^/metrics$", "^/static/"],
    )


def csrf_config(settings: AdminSettings) -> CSRFConfig:
    return CSRFConfig(
        secret=_derive(settings.session_secret.get_secret_value(), "csrf").hex(),
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_secure=settings.cookie_secure,
        cookie_httponly=True,  # pages carry the token in a meta tag and hidden fields
        cookie_samesite="lax",
        exclude=["^/api/", "^/healthz$", "^/readyz$", "^/metrics$", "^/static/", "^/schema"],
    )
