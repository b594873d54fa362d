"""How discovery groups a listing batch's new files into messages."""

import uuid

import pytest
from pydantic import ValidationError

from contracts import DiscoveredBatch, DownloadedBatch, FileDiscovered, FileDownloaded
from infra.file_states import Discovered
from services.discovery.batching import Batching


def _new(size: int) -> Discovered:
    return Discovered(uuid.uuid4(), f"/in/{uuid.uuid4().hex}.csv", size, 0)


def test_small_files_go_together_within_both_caps_and_large_ones_alone():
    created = [_new(100) for _ in range(7)] + [_new(5000)] + [_new(400) for _ in range(3)]

    messages = Batching(max_files=3, max_bytes=1000, file_max_bytes=1000).announce(9, created)

    alone = [m.message for m in messages if isinstance(m.message, FileDiscovered)]
    batches = [m.message for m in messages if isinstance(m.message, DiscoveredBatch)]
    assert [f.size for f in alone] == [5000, 400]  # the last small file had no company left
    assert [[f.size for f in b.files] for b in batches] == [
        [100, 100, 100], [100, 100, 100], [100, 400, 400]]
    assert all(b.server_id == 9 for b in batches)
    announced = [f.file_id for b in batches for f in b.files] + [f.file_id for f in alone]
    assert sorted(announced) == sorted(new.id for new in created)  # each file exactly once
    assert all(m.message_id == f"{m.message.batch_id}:discovered"
               for m in messages if isinstance(m.message, DiscoveredBatch))


def test_one_file_per_batch_is_every_file_alone():
    created = [_new(10) for _ in range(4)]

    messages = Batching(max_files=1, max_bytes=10**9, file_max_bytes=10**9).announce(1, created)

    assert [m.message.file_id for m in messages] == [new.id for new in created]


def test_a_batch_holds_one_server_and_one_spool():
    one = FileDiscovered(file_id=uuid.uuid4(), server_id=1, remote_path="a", size=1)
    other = FileDiscovered(file_id=uuid.uuid4(), server_id=2, remote_path="b", size=1)
    with pytest.raises(ValidationError, match="batch's server"):
        DiscoveredBatch(batch_id=uuid.uuid4(), server_id=1, files=[one, other])
    copy = FileDownloaded(file_id=uuid.uuid4(), size=1, sha256="a", md5="b", spool="host-b")
    with pytest.raises(ValidationError, match="batch's spool"):
        DownloadedBatch(batch_id=uuid.uuid4(), spool="host-a", files=[copy])
    with pytest.raises(ValidationError, match="at least 1"):
        DiscoveredBatch(batch_id=uuid.uuid4(), server_id=1, files=[])
