"""Wiring of the admin service: ``create_app`` builds every dependency; nothing runs at import."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import Scope
from prometheus_client import CollectorRegistry

from infra.broker import StagePublisher, create_broker, declare_topology
from infra.crypto import SecretBox
from infra.outbox import Outbox
from infra.postgres import create_pool, prepare_schema
from infra.storage import ObjectStore
from infra.telemetry import configure_logging, register_build_info
from services.admin.api_docs import ASYNCAPI_PATH, SCHEMA_PATH, VendoredSwagger, asyncapi_document
from services.admin.auth.access import (
    AdminAuthMiddleware,
    Credentials,
    LoginRequired,
    csrf_config,
    login_redirect,
    session_config,
)
from services.admin.auth.pages import login, login_form, logout
from services.admin.dashboard.api import get_stats
from services.admin.dashboard.health_of_services import parse_service_urls
from services.admin.dashboard.pages import dashboard, dashboard_live
from services.admin.dashboard.stats import StatsCache
from services.admin.dependencies import DEPENDENCIES
from services.admin.errors import not_found_answer, validation_answer
from services.admin.files.api import FileController
from services.admin.files.pages import FilePages
from services.admin.health import healthz, readyz
from services.admin.jobs.api import JobController
from services.admin.jobs.pages import JobPages, sum_file_columns
from services.admin.metrics import RequestMetrics, metrics
from services.admin.pipeline_metrics.gauges import PipelineGauges
from services.admin.pipeline_metrics.queues import QueueDepths
from services.admin.security_headers import SecurityHeaders
from services.admin.servers.api import ServerController
from services.admin.servers.pages import ServerPages
from services.admin.settings import AdminSettings, load_settings
from services.admin.storage.api import audit_storage
from services.admin.templating import template_config
from services.admin.uploads.api import upload
from services.admin.uploads.pages import upload_form, upload_from_form, upload_progress
from services.admin.uploads.sweeping import sweep_every

log = logging.getLogger("intake.admin")

STATIC = Path(__file__).parent / "static"


async def _log_unexpected(exc: Exception, scope: Scope) -> None:
    """Log server errors through our JSON logging; client errors are answers, not incidents,
    and a 503 (try again later) was logged with its cause where it arose."""
    if isinstance(exc, HTTPException) and (exc.status_code < 500
                                           or exc.status_code == HTTP_503_SERVICE_UNAVAILABLE):
        return
    log.error("unhandled error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)


def _link_signer(settings: AdminSettings) -> ObjectStore:
    """Signs download links for the S3 address browsers use, which may differ from ours.

    With a region set, the minio client signs offline instead of asking the server for the
    bucket's location (which it could not reach under a public name).
    """
    public = settings.s3_public_endpoint or settings.s3_endpoint
    return ObjectStore(settings.model_copy(
        update={"s3_endpoint": public, "s3_region": settings.s3_region or "us-east-1"}
    ))


def create_app(settings: AdminSettings | None = None) -> Litestar:
    settings = settings or load_settings()
    configure_logging("admin", settings.log_level)
    registry = CollectorRegistry()
    register_build_info(registry, settings.git_commit)
    credentials = Credentials(settings)
    storage = ObjectStore(settings)

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        pool = create_pool(settings)
        await pool.open(wait=True)
        try:
            await prepare_schema(pool, migrate_on_start=settings.migrate_on_start)
            app.state.pool = pool
            app.state.stats = StatsCache(pool, settings.stats_max_age_s,
                                         lost_after=settings.spool_lost_after_seconds,
                                         services=parse_service_urls(settings.service_urls))
            yield
        finally:
            await pool.close()

    @asynccontextmanager
    async def broker(app: Litestar) -> AsyncIterator[None]:
        """Retries and uploads publish stage messages through the outbox; the admin consumes
        nothing, and relays nothing: the pipeline services relay its rows too."""
        rabbit = create_broker(settings.amqp_url.get_secret_value(), prefetch=1)
        await rabbit.connect()
        outbox = Outbox(app.state.pool, StagePublisher(rabbit, settings.topology),
                        grace_seconds=settings.outbox_grace_seconds,
                        exit_after_commit=settings.fault_exit_after_commit)
        forgetting = asyncio.create_task(outbox.keep_forgetting())
        try:
            await declare_topology(rabbit, settings.topology)
            app.state.broker = rabbit
            app.state.outbox = outbox
            yield
        finally:
            forgetting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forgetting
            await outbox.forget_sent()
            await rabbit.stop()

    @asynccontextmanager
    async def pipeline_gauges(app: Litestar) -> AsyncIterator[None]:
        """The gauges of what the database and the broker know, computed by the admin
        alone (on its own broker connection) when /metrics is scraped."""
        depths = QueueDepths(settings.amqp_url.get_secret_value())
        gauges = PipelineGauges(app.state.pool, depths, settings.topology,
                                max_age=settings.metrics_max_age_s,
                                lost_after=settings.spool_lost_after_seconds)
        registry.register(gauges)
        app.state.pipeline_gauges = gauges
        try:
            yield
        finally:
            registry.unregister(gauges)
            await depths.close()

    @asynccontextmanager
    async def upload_sweeper(app: Litestar) -> AsyncIterator[None]:
        """Aborts the multipart uploads of admins that died mid-upload."""
        sweeping = asyncio.create_task(sweep_every(
            storage, seconds=settings.janitor_interval_seconds,
            older_than=timedelta(seconds=settings.upload_abandoned_after_s)))
        try:
            yield
        finally:
            sweeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeping

    state: dict[str, Any] = {
        "settings": settings,
        "secret_box": SecretBox(settings.secret_key),
        "metrics_registry": registry,
        "link_signer": _link_signer(settings),
        "storage": storage,
        "credentials": credentials,
    }
    return Litestar(
        route_handlers=[
            healthz,
            readyz,
            metrics,
            asyncapi_document,
            ServerController,
            FileController,
            JobController,
            upload,
            get_stats,
            audit_storage,
            dashboard,
            dashboard_live,
            FilePages,
            JobPages,
            sum_file_columns,
            ServerPages,
            login_form,
            login,
            logout,
            upload_form,
            upload_from_form,
            upload_progress,
            create_static_files_router("/static", directories=[STATIC], include_in_schema=False,
                                       name="static"),
        ],
        dependencies=DEPENDENCIES,
        state=State(state),
        lifespan=[database, broker, pipeline_gauges, upload_sweeper],
        middleware=[
            RequestMetrics(registry),
            SecurityHeaders(),
            session_config(settings).middleware,
            DefineMiddleware(AdminAuthMiddleware, credentials=credentials),
        ],
        csrf_config=csrf_config(settings),
        exception_handlers={LoginRequired: _login_redirect_handler,
                            NotFoundException: not_found_answer,
                            ValidationException: validation_answer},
        after_exception=[_log_unexpected],
        template_config=template_config(),
        openapi_config=OpenAPIConfig(
            title="Intake admin",
            version="1",
            path=SCHEMA_PATH,
            description=(
                "Partner SFTP servers and the files Intake copies from them. Every operation "
                "needs `Authorization: Bearer <INTAKE_ADMIN_TOKEN>`. The messages Intake "
                f"sends and takes, `FileReady` among them, are in [AsyncAPI]({ASYNCAPI_PATH})."
            ),
            render_plugins=[VendoredSwagger()],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http", scheme="bearer",
                        description="The admin token (INTAKE_ADMIN_TOKEN)",
                    )
                }
            ),
            security=[{"bearer": []}],
        ),
        # Litestar's default logging config would replace the JSON handler on the root logger.
        logging_config=None,
    )


def _login_redirect_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, LoginRequired)
    return login_redirect(request, exc)
