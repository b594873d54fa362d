"""How pages answer: whole pages with the layout's context, htmx fragments, one-off notices."""

from typing import Any

from litestar import Request
from litestar.response import Template
from litestar.status_codes import HTTP_404_NOT_FOUND

AnyRequest = Request[Any, Any, Any]
_FLASH = "flash"


def is_htmx(request: AnyRequest) -> bool:
    return request.headers.get("hx-request") == "true"


def notice(request: AnyRequest, text: str, kind: str = "ok") -> None:
    """A message shown once on the next page (kept in the session cookie until then)."""
    session = dict(request.session)
    session[_FLASH] = {"text": text, "kind": kind}
    request.set_session(session)


def _take_notice(request: AnyRequest) -> dict[str, str] | None:
    session = request.scope.get("session")
    if not isinstance(session, dict) or _FLASH not in session:
        return None
    remaining = dict(session)
    message = remaining.pop(_FLASH)
    request.set_session(remaining)
    return message if isinstance(message, dict) else None


def page(request: AnyRequest, template: str, *, section: str, status_code: int = 200,
         **context: Any) -> Template:
    context.update(section=section, user=request.scope.get("user"),
                   notice=_take_notice(request))
    return Template(template, context=context, status_code=status_code)


def fragment(template: str, *, status_code: int = 200, **context: Any) -> Template:
    return Template(template, context=context, status_code=status_code)


def message(text: str, *, kind: str = "ok", status_code: int = 200) -> Template:
    """A one-line answer for htmx to swap in."""
    return fragment("_message.html", kind=kind, text=text, status_code=status_code)


def gone(what: str) -> Template:
    """The answer to a fragment's request when the thing it shows was deleted meanwhile."""
    return message(f"This {what} no longer exists.", kind="error", status_code=HTTP_404_NOT_FOUND)


def not_found(request: AnyRequest, *, section: str, text: str,
              status_code: int = HTTP_404_NOT_FOUND) -> Template:
    """A whole page saying what is not there (or not there yet)."""
    return page(request, "not_found.html", section=section, message=text,
                status_code=status_code)
