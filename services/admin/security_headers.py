"""Response headers that make the pages harder to abuse (framing, sniffing, injected script).

The console loads scripts only from ``/static`` (htmx is vendored), so pages get a strict
Content-Security-Policy; ``/schema`` keeps Litestar's viewer, which loads from a CDN.
Authenticated answers are never cached.
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


class SecurityHeaders(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope["path"]

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "same-origin"
                if not path.startswith("/static/"):
                    headers["Cache-Control"] = "no-store"
                if not path.startswith("/schema"):
                    headers["Content-Security-Policy"] = CSP
            await send(message)

        await next_app(scope, receive, add_headers)
