"""Run one Intake service: ``python -m services discovery|downloader|uploader|notifier|admin``.

Every service is an ASGI app (FastStream's AsgiFastStream, or Litestar for the admin)
served by uvicorn, which turns SIGTERM into a graceful lifespan shutdown.
"""

import argparse

import uvicorn

from infra.settings import Settings

SERVICES = {
    "discovery": "services.discovery.main:create_app",
    "downloader": "services.downloader.main:create_app",
    "uploader": "services.uploader.main:create_app",
    "notifier": "services.notifier.main:create_app",
    "admin": "services.admin.main:create_app",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="intake", description=__doc__)
    parser.add_argument("service", choices=sorted(SERVICES))
    args = parser.parse_args(argv)
    settings = Settings()
    uvicorn.run(
        SERVICES[args.service],
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
