"""Whether each service named in ``INTAKE_SERVICE_URLS`` answers its ``/readyz``: the
dashboard's services panel, so that a service that crashed (and stays down) shows.

All probes run at once, each waits ``PROBE_TIMEOUT_S`` at most, and :class:`StatsCache`
keeps their answers with the stats: open dashboards cost one probe per service per
``INTAKE_STATS_MAX_AGE_S`` however many there are.
"""

import asyncio
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

from services.admin.dashboard.schemas import ServiceOut

PROBE_TIMEOUT_S = 1.0


def parse_service_urls(text: str) -> dict[str, str]:
    """``name=url,...`` (spaces around items ignored; empty: no services) as a dict.

    Raises ``ValueError`` for an item without a name or an http(s) URL.
    """
    services = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, url = (half.strip() for half in item.partition("="))
        if not name or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ValueError("every item must be NAME=http://HOST:PORT (items separated by ,)")
        services[name] = url.rstrip("/")
    return services


def _ready(url: str) -> bool:
    try:
        # The scheme is http(s): parse_service_urls checked it.
        with urllib.request.urlopen(f"{url}/readyz", timeout=PROBE_TIMEOUT_S) as answer:  # noqa: S310
            return 200 <= answer.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


async def probe_all(services: Mapping[str, str]) -> list[ServiceOut]:
    """Each service, ready when its ``/readyz`` answered 2xx within the timeout."""
    answers = await asyncio.gather(*(asyncio.to_thread(_ready, url) for url in services.values()))
    return [ServiceOut(name=name, url=url, ready=ready)
            for (name, url), ready in zip(services.items(), answers, strict=True)]
