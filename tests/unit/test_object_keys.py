"""One key layout for both writers: the admin names an upload's object before its row
exists, and the key its row gets is the one the uploader would compute from that row."""

import uuid
from datetime import UTC, datetime

from infra.file_states import FileWithServer, Status
from infra.object_keys import object_key, upload_key
from infra.server_access import ServerAccess


def _row(server: ServerAccess | None, created_at: datetime) -> FileWithServer:
    return FileWithServer(
        id=uuid.uuid4(), server_id=server.id if server else None,
        source="sftp" if server else "upload", remote_path="../in/a b.csv", filename="a b.csv",
        size=1, remote_mtime=0, status=Status.STORED, sha256=None, md5=None, bucket=None,
        object_key=None, etag=None, attempts=0, lease_until=None, error_message=None,
        stored_at=None, notified_at=None, created_at=created_at, updated_at=created_at,
        spool_id=None, spool_losses=0, server=server)


def test_an_upload_is_keyed_by_its_date_and_id_under_upload() -> None:
    row = _row(None, datetime(2026, 3, 4, 23, 59, tzinfo=UTC))
    key = upload_key(row.id, row.created_at, row.filename)
    assert key == f"upload/2026/03/04/{row.id}/a b.csv" == object_key(row)


def test_a_partner_file_is_keyed_under_its_server() -> None:
    server = ServerAccess(id=7, name="acme", host="h", port=22, username="u",
                          password_enc=None, private_key_enc=None, host_key=None,
                          trust_on_first_use=False, max_connections=1)
    row = _row(server, datetime(2026, 12, 1, tzinfo=UTC))
    assert object_key(row) == f"acme/2026/12/01/{row.id}/a b.csv"
