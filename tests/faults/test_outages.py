"""Infrastructure outages that every service meets at once: RabbitMQ and PostgreSQL
connections cut. (Storage that is down for a while is the uploader's alone and tested
in-process: tests/integration/stages/test_uploader.py.)"""

import contextlib
from collections.abc import Callable, Iterator

import pytest

from tests.faults.proxy import FaultProxy
from tests.harness import Journal, make_inbox, write_random
from tests.processes import Pipeline, wait_for

pytestmark = pytest.mark.faults


@contextlib.contextmanager
def _pipeline_through_proxy(start_pipeline: Callable[..., Pipeline],
                            watch: Callable[..., Journal], remote: str, *, setting: str,
                            url: str) -> Iterator[tuple[FaultProxy, Pipeline, Journal]]:
    """A pipeline whose ``setting`` (a URL with user@host:port) goes through a fault proxy,
    watching the test's server."""
    hostport = url.split("@", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    with FaultProxy(host, int(port)) as proxy:
        pipeline = start_pipeline(**{setting: url.replace(hostport, f"127.0.0.1:{proxy.port}")})
        try:
            yield proxy, pipeline, watch(pipeline, remote)
        finally:
            pipeline.stop()  # while the proxy still forwards: a clean stop needs the server


def test_broker_connections_dropped(start_pipeline, watch, sftp_server, name, amqp_url):
    remote, local = make_inbox(sftp_server, name)
    with _pipeline_through_proxy(start_pipeline, watch, remote, setting="INTAKE_AMQP_URL",
                                 url=amqp_url) as (proxy, pipeline, journal):
        digests = {}
        for i in range(10):
            digests[f"a{i}.bin"] = write_random(local / f"a{i}.bin", 100_000)
        wait_for(lambda: any(r["status"] == "notified" for r in journal.files()),
                 timeout=60, what="the first file through")
        for i in range(10):
            digests[f"b{i}.bin"] = write_random(local / f"b{i}.bin", 100_000)
        proxy.drop()  # every service loses its broker connection at once
        rows = journal.wait_until_all(20, timeout=150)
        assert all(service.is_ready() for service in pipeline.all)
    assert {r["filename"]: r["sha256"] for r in rows} == digests


def test_database_connections_dropped(start_pipeline, watch, sftp_server, name, database_url):
    remote, local = make_inbox(sftp_server, name)
    with _pipeline_through_proxy(start_pipeline, watch, remote, setting="INTAKE_DATABASE_URL",
                                 url=database_url) as (proxy, _, journal):
        digests = {f"c{i}.bin": write_random(local / f"c{i}.bin", 300_000) for i in range(10)}
        wait_for(lambda: any(r["status"] != "discovered" for r in journal.files()),
                 timeout=60, what="work under way")
        proxy.drop()
        rows = journal.wait_until_all(10, timeout=150)
    assert {r["filename"]: r["sha256"] for r in rows} == digests
