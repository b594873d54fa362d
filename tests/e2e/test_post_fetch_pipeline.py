"""A partner's file moved into its archive by the running pipeline once the copy is stored."""

import re
import uuid

import pytest

from tests.harness import Journal, make_inbox, register_server
from tests.processes import wait_for

pytestmark = pytest.mark.e2e


def test_a_stored_file_is_moved_into_the_archive_on_the_partner(pipeline, sftp_server,
                                                                database_url, admin_token):
    remote, local = make_inbox(sftp_server, f"e2e-archive-{uuid.uuid4().hex[:8]}")
    local.chmod(0o777)  # the SFTP account moves files out of it
    (local / "orders.csv").write_bytes(b"id,qty\n1,2\n")
    server = register_server(pipeline["admin"].url, sftp_server,
                             name=f"partner-archive-{uuid.uuid4().hex[:6]}", remote_dir=remote,
                             token=admin_token, post_fetch="move", archive_dir="done/%Y")
    journal = Journal(database_url, server["id"])
    try:
        [row] = journal.wait_until_all(1, timeout=180)

        def remote_events() -> list[tuple[str, dict]]:
            return [(event, details) for event, details in journal.events(row["id"])
                    if event.startswith("remote_")]

        wait_for(remote_events, timeout=60, interval=0.3, what="the post-fetch action")
        [(event, details)] = remote_events()
    finally:
        journal.close()
    assert event == "remote_moved"
    assert re.fullmatch(rf"{re.escape(remote)}/done/\d{{4}}/orders\.csv", details["to"])
    assert (sftp_server.home / details["to"]).read_bytes() == b"id,qty\n1,2\n"
    assert not (local / "orders.csv").exists()
