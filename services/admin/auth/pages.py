"""``/login`` and ``/logout`` for the console (the API uses its bearer token instead)."""

import logging

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from services.admin.auth.access import Credentials, LoginThrottled, safe_next
from services.admin.rendering import AnyRequest, page

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
    client = request.client.host if request.client else "unknown"
    try:
        good = await credentials.check_login(client, username, password)
    except LoginThrottled as exc:
        log.warning("login throttled for %s", client)
        return page(request, "login.html", section="login", next=target, username=username,
                    error=f"Too many failed attempts. Wait {exc.retry_after} seconds, then "
                          "try again.", status_code=429)
    if not good:
        log.warning("failed login for user %r from %s", username, client)
        return page(request, "login.html", section="login", next=target, username=username,
                    error="Wrong user name or password.", status_code=401)
    request.set_session(credentials.new_session())
    log.info("login of %r from %s", username, client)
    return Redirect(target, status_code=HTTP_303_SEE_OTHER)


@post("/logout", include_in_schema=False)
async def logout(request: AnyRequest) -> Redirect:
    request.clear_session()
    return Redirect("/login", status_code=HTTP_303_SEE_OTHER)
