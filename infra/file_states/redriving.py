"""Which message makes a file move on from where it stands, for the reconciler and for an
operator's retry alike."""

from pydantic import BaseModel

from contracts import FileDiscovered, FileDownloaded, FileStored, Stage
from infra.file_states.rows import FileRow
from infra.file_states.states import Status
from infra.outbox import Outgoing


def message_for(row: FileRow) -> tuple[Stage, BaseModel]:
    """The message of the stage that takes the file from its status; a file whose claim
    lapsed mid-stage (downloading, storing) gets that stage's message again. A copy's
    message goes to the spool that holds it."""
    if row.status in (Status.DISCOVERED, Status.DOWNLOADING):
        return Stage.DISCOVERED, FileDiscovered(
            file_id=row.id, server_id=row.server_id, remote_path=row.remote_path,
            size=row.size,
        )
    if row.status in (Status.DOWNLOADED, Status.STORING):
        if row.spool_id is None:
            raise ValueError(f"file {row.id} is {row.status} but no spool holds its copy")
        return Stage.DOWNLOADED, FileDownloaded(
            file_id=row.id, size=row.size, sha256=row.sha256, md5=row.md5,
            spool=row.spool_id,
        )
    if row.status is Status.STORED:
        return Stage.STORED, FileStored(
            file_id=row.id, bucket=row.bucket, object_key=row.object_key,
        )
    raise ValueError(f"nothing to re-drive in status {row.status}")


def outgoing_for(row: FileRow) -> Outgoing:
    """:func:`message_for` as the outbox sends it."""
    stage, message = message_for(row)
    return Outgoing(stage, message, f"{row.id}:{stage}")
