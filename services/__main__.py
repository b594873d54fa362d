"""Run one Intake service: ``python -m services <name>`` (discovery, downloader, uploader,
notifier, processor, admin).

Every service is an ASGI app (FastStream's AsgiFastStream, or Litestar for the admin)
served by uvicorn, which turns SIGTERM into a graceful lifespan shutdown.
``python -m services audit-storage`` compares the bucket with the database and exits 1 when
they disagree; ``python -m services migrate`` applies the schema migrations and exits (for
installations whose services run with ``INTAKE_MIGRATE_ON_START=false``);
``python -m services rotate-secrets`` encrypts every stored partner credential again with
the first key of ``INTAKE_SECRET_KEY`` (infra/secret_rotation.py);
``python -m services asyncapi`` prints the AsyncAPI document of the messages
(services/asyncapi.py; ``docs/asyncapi.json`` is its output).
"""

import argparse
import asyncio
import dataclasses
import json
import sys
from typing import TypeVar

import psycopg
import uvicorn
from pydantic import ValidationError

from infra.postgres import create_pool, migrate_database, required_version
from infra.settings import DatabaseSettings, PartnerKeySettings, Settings
from infra.storage import ObjectStore
from infra.storage_audit import audit

S = TypeVar("S", bound=DatabaseSettings)

SERVICES = {
    "discovery": "services.discovery.main:create_app",
    "downloader": "services.downloader.main:create_app",
    "uploader": "services.uploader.main:create_app",
    "notifier": "services.notifier.main:create_app",
    "processor": "services.processor.main:create_app",
    "admin": "services.admin.main:create_app",
}


async def _audit_storage(settings: Settings) -> bool:
    pool = create_pool(settings)
    await pool.open(wait=True)
    try:
        report = await audit(pool, ObjectStore(settings))
    finally:
        await pool.close()
    print(json.dumps(dataclasses.asdict(report), indent=2))
    return report.clean


async def _migrate(settings: DatabaseSettings) -> int:
    try:
        applied = await migrate_database(settings)
    except psycopg.OperationalError as exc:
        reason = " ".join(line.strip() for line in str(exc).splitlines())
        print(f"error: cannot connect to the database: {reason}", file=sys.stderr)
        return 1
    print(f"database schema at version {required_version()};"
          f" applied: {', '.join(applied) or 'nothing'}")
    return 0


async def _rotate_secrets(settings: PartnerKeySettings) -> int:
    # Here, not at the top: the uploader and the notifier load no cryptography.
    from infra.crypto import SecretBox, SecretBoxError
    from infra.secret_rotation import rotate_secrets

    pool = create_pool(settings)
    await pool.open(wait=True)
    try:
        count = await rotate_secrets(pool, SecretBox(settings.secret_key))
    except SecretBoxError as exc:
        print(f"error: {exc}; nothing was changed", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    print(f"credentials of {count} server(s) encrypted with the first key of INTAKE_SECRET_KEY")
    return 0


def _load(settings_class: type[S]) -> S:
    """Settings from the environment, or an exit naming each INTAKE_* variable to fix (never
    its value: it may be a secret)."""
    try:
        return settings_class()
    except ValidationError as exc:
        lines = ["cannot start; fix these settings:"]
        for error in exc.errors(include_input=False, include_url=False):
            name = "INTAKE_" + "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"  {name}: {error['msg'].removeprefix('Value error, ')}")
        raise SystemExit("\n".join(lines)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="intake", description=__doc__)
    parser.add_argument("command",
                        choices=[*sorted(SERVICES), "asyncapi", "audit-storage", "migrate",
                                 "rotate-secrets"])
    args = parser.parse_args(argv)
    if args.command == "asyncapi":
        # Here, not at the top: it imports every service.
        from services.asyncapi import render

        sys.stdout.write(render())
        return
    if args.command == "migrate":
        sys.exit(asyncio.run(_migrate(_load(DatabaseSettings))))
    if args.command == "rotate-secrets":
        sys.exit(asyncio.run(_rotate_secrets(_load(PartnerKeySettings))))
    settings = _load(Settings)
    if args.command == "audit-storage":
        sys.exit(0 if asyncio.run(_audit_storage(settings)) else 1)
    uvicorn.run(
        SERVICES[args.command],
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
