"""A hostile partner's listing, from a scripted SFTP server: entries no row can hold are
skipped, each named (escaped) with its reason, and the rest of the scan goes on; a listing
that does not parse is a clear error, in the scan and in the connection test."""

import stat

import paramiko
import pytest

from infra.sftp.listing import MAX_PATH_BYTES, MalformedListing, Skipped, walk
from services.admin.servers.probing import probe
from tests.fake_sftp import PASSWORD, USER, Truncated, entry, fake_sftp_server
from tests.integration.test_discovery_scanning import add_server, make_scanner, reload

HOSTILE = [
    entry("good.csv", 10),
    entry("a/../../etc/passwd", 5),
    entry("nul\x00.csv", 5),
    entry("x" * MAX_PATH_BYTES + ".csv", 5),
    entry("huge.csv", 2**63),
    entry("..", 0, mode=stat.S_IFDIR | 0o755),
    entry("also good.csv", 20),
]
REASONS = {
    "/in/a/../../etc/passwd": "its name holds '/' or NUL",
    "/in/nul\\x00.csv": "its name holds '/' or NUL",
    f"/in/{'x' * MAX_PATH_BYTES}.csv": f"its path is longer than {MAX_PATH_BYTES} bytes",
    "/in/huge.csv": f"its size {2**63} is past {2**63 - 1}",
}


def _client(host: str, port: int) -> paramiko.SFTPClient:
    transport = paramiko.Transport((host, port))
    transport.connect(username=USER, password=PASSWORD)
    return paramiko.SFTPClient.from_transport(transport)


def test_entries_no_row_can_hold_are_skipped_and_named() -> None:
    with fake_sftp_server(HOSTILE) as (host, port, _):
        client = _client(host, port)
        skipped = Skipped()
        found = list(walk(client, "/in", skipped=skipped))
        client.close()
    assert sorted(e.path for e in found) == ["/in/also good.csv", "/in/good.csv"]
    assert skipped.refusals == 4
    assert dict(skipped.refused) == REASONS


def test_a_listing_that_does_not_parse_is_a_clear_error() -> None:
    with fake_sftp_server([entry("good.csv", 1), Truncated("cut.csv")]) as (host, port, key):
        client = _client(host, port)
        with pytest.raises(MalformedListing, match="listing of '/in' does not parse"):
            list(walk(client, "/in"))
        client.close()
        target_probe = probe(_target(host, port, key), remote_dir="/in", pattern="*",
                             recursive=False)
    assert not target_probe.ok
    assert "does not parse" in target_probe.error


async def test_a_scan_records_the_good_files_and_the_skipped_ones(settings, pool) -> None:
    with fake_sftp_server(HOSTILE) as (host, port, key):
        server = await add_server(pool, settings, _Partner(host, port, key), "/in")
        scanner, _ = make_scanner(settings, pool)
        result = await scanner.scan(server)
    assert (result.emitted, result.passed_over.refusals) == (2, 4)
    row = await reload(pool, server["id"])
    assert row["last_scan_error"] is None
    assert row["last_scan_warnings"]["refused"] == 4
    assert {e["path"]: e["reason"] for e in row["last_scan_warnings"]["entries"]} == REASONS
    async with pool.connection() as conn:
        await conn.execute("UPDATE servers SET enabled = false WHERE id = %s", (server["id"],))
        await conn.execute("UPDATE files SET status = 'failed' WHERE server_id = %s",
                           (server["id"],))


class _Partner:
    """The fake server as ``add_server`` takes an SFTP server."""

    def __init__(self, host: str, port: int, host_key: str) -> None:
        self.host, self.port, self.host_key = host, port, host_key
        self.username, self.password = USER, PASSWORD


def _target(host: str, port: int, key: str):
    from infra.sftp.session import SftpTarget

    return SftpTarget(host, port, USER, password=PASSWORD, host_key=key)
