"""Infrastructure outages: S3, RabbitMQ and PostgreSQL connections cut or refused."""

import pytest

from tests.faults.proxy import FaultProxy
from tests.harness import Journal, make_inbox, register_server, write_random
from tests.processes import wait_for

pytestmark = pytest.mark.faults


def _proxy_for(url_host_port: str) -> FaultProxy:
    host, port = url_host_port.rsplit(":", 1)
    return FaultProxy(host, int(port))


def test_storage_down_for_a_while_is_waited_out(start_pipeline, sftp_server, s3, database_url,
                                                admin_token, name):
    remote, local = make_inbox(sftp_server, name)
    digests = {f"f{i}.bin": write_random(local / f"f{i}.bin", 200_000) for i in range(3)}
    with _proxy_for(s3.endpoint) as proxy:
        pipeline = start_pipeline(INTAKE_S3_ENDPOINT=f"127.0.0.1:{proxy.port}")
        proxy.refuse()
        proxy.drop()
        server = register_server(pipeline["admin"].url, sftp_server, name=name,
                                 remote_dir=remote, token=admin_token)
        journal = Journal(database_url, server["id"])
        try:
            wait_for(lambda: any(e == "upload_failed" for r in journal.files()
                                 for e, _ in journal.events(r["id"])),
                     timeout=90, what="an upload to fail while storage is down")
            proxy.accept()
            rows = journal.wait_until_all(3, timeout=120)
        finally:
            journal.close()
    assert {r["filename"]: r["sha256"] for r in rows} == digests


def test_broker_connections_dropped(start_pipeline, sftp_server, database_url, admin_token,
                                    name, amqp_url):
    remote, local = make_inbox(sftp_server, name)
    hostport = amqp_url.split("@", 1)[1].split("/", 1)[0]
    with _proxy_for(hostport) as proxy:
        proxied = amqp_url.replace(hostport, f"127.0.0.1:{proxy.port}")
        pipeline = start_pipeline(INTAKE_AMQP_URL=proxied)
        server = register_server(pipeline["admin"].url, sftp_server, name=name,
                                 remote_dir=remote, token=admin_token)
        journal = Journal(database_url, server["id"])
        try:
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
        finally:
            journal.close()
    assert {r["filename"]: r["sha256"] for r in rows} == digests


def test_database_connections_dropped(start_pipeline, sftp_server, database_url, admin_token,
                                      name):
    remote, local = make_inbox(sftp_server, name)
    hostport = database_url.split("@", 1)[1].split("/", 1)[0]
    with _proxy_for(hostport) as proxy:
        proxied = database_url.replace(hostport, f"127.0.0.1:{proxy.port}")
        pipeline = start_pipeline(INTAKE_DATABASE_URL=proxied)
        server = register_server(pipeline["admin"].url, sftp_server, name=name,
                                 remote_dir=remote, token=admin_token)
        journal = Journal(database_url, server["id"])
        try:
            digests = {f"c{i}.bin": write_random(local / f"c{i}.bin", 300_000)
                       for i in range(10)}
            wait_for(lambda: any(r["status"] != "discovered" for r in journal.files()),
                     timeout=60, what="work under way")
            proxy.drop()
            rows = journal.wait_until_all(10, timeout=150)
        finally:
            journal.close()
    assert {r["filename"]: r["sha256"] for r in rows} == digests
