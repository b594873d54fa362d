"""``/login`` and ``/logout`` for the console (the API uses its bearer token instead)."""

import logging

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.admin.auth.access import Credentials, LoginBusy, LoginThrottled, safe_next
from services.admin.auth.peers import client_address
from services.admin.rendering import AnyRequest, page
from services.admin.settings import AdminSettings

log = logging.getLogger("intake.admin.login")


@get("/login", include_in_schema=False)
async def login_form(request: AnyRequest, state: State,
                     next: FromQuery[str | None] = None) -> Template | Redirect:
    credentials: Credentials = state.credentials
    if credentials.session_user(request.scope.get("session")):
        return Redirect(safe_next(next), status_code=HTTP_303_SEE_OTHER)
    return page(request, "login.html", section="login", next=safe_next(next), error=None,
                username="")


@post("/login", include_in_schema=False)
async def login(request: Request, state: State) -> Template | Redirect:  # type: ignore[type-arg]
    credentials: Credentials = state.credentials
    form = await request.form()
    username = str(form.get("username", ""))[:200]
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    settings: AdminSettings = state.settings
    client = client_address(request.client.host if request.client else "unknown",
                            request.headers.getall(settings.trusted_proxy_header, []),
                            settings.trusted_proxies)
    try:
        good = await credentials.check_login(client, username, password)
    except LoginBusy:
        log.warning("login from %s refused: too many password checks at once", client)
        return _refused(request, target, username, "Too many logins at once. Try again in a "
                        "moment.", status_code=503, retry_after=1)
    except LoginThrottled as exc:
        log.warning("login throttled for %s", client)
        return _refused(request, target, username, f"Too many failed attempts. Wait "
                        f"{exc.retry_after} seconds, then try again.", status_code=429,
                        retry_after=exc.retry_after)
    if not good:
        log.warning("failed login for user %r from %s", username, client)
        return page(request, "login.html", section="login", next=target, username=username,
                    error="Wrong user name or password.", status_code=401)
    request.set_session(credentials.new_session())
    log.info("login of %r from %s", username, client)
    return Redirect(target, status_code=HTTP_303_SEE_OTHER)


def _refused(request: AnyRequest, target: str, username: str, error: str, *, status_code: int,
             retry_after: int) -> Template:
    answer = page(request, "login.html", section="login", next=target, username=username,
                  error=error, status_code=status_code)
    answer.headers["Retry-After"] = str(retry_after)
    return answer


@post("/logout", include_in_schema=False)
async def logout(request: AnyRequest) -> Redirect:
    request.clear_session()
    return Redirect("/login", status_code=HTTP_303_SEE_OTHER)
