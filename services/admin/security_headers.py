"""Response headers that make the pages harder to abuse (framing, sniffing, injected script).

The console and the API viewer load scripts only from ``/static`` (htmx and Swagger UI are
vendored), so every answer gets a strict Content-Security-Policy. Authenticated answers are
never cached.
"""

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)


def security_headers(path: str) -> dict[str, str]:
    """The headers of an answer for ``path``."""
    headers = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
               "Referrer-Policy": "same-origin"}
    if not path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
    headers["Content-Security-Policy"] = CSP
    return headers


class SecurityHeaders(ASGIMiddleware):
    """Adds :func:`security_headers` to the answers of routes; a path that matches none is
    answered before any middleware runs (``errors.not_found_answer`` adds them there)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        extra = security_headers(scope["path"])

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await next_app(scope, receive, add_headers)
