"""Request metrics in a registry the app owns, and the ``/metrics`` exposition, the
pipeline gauges (``services/admin/pipeline_metrics``) brought up to date first.

Litestar's PrometheusMiddleware records into prometheus_client's global registry; a registry
per app keeps several apps in one process (tests) from sharing counters.
"""

import time

from litestar import Response, get
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)


class RequestMetrics(ASGIMiddleware):
    """Counts requests and their latency by method, route template and status."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "intake_admin_http_requests",
            "HTTP requests answered by the admin service",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "intake_admin_http_request_seconds",
            "Time to answer one HTTP request",
            ["method", "route"],
            registry=registry,
        )

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, record_status)
        finally:
            # The route template, not the path, so ids do not explode the label set.
            route = scope.get("path_template") or "unmatched"
            method = scope.get("method", "")
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - started)


@get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response[bytes]:
    await state.pipeline_gauges.refresh()
    return Response(generate_latest(state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
