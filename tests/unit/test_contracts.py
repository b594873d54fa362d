from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts import FileDiscovered, FileReady, ServerRef, Stage, Topology


def test_messages_round_trip_through_json():
    message = FileDiscovered(file_id=uuid4(), server_id=3, remote_path="in/a b.csv", size=0)
    assert FileDiscovered.model_validate_json(message.model_dump_json()) == message
    assert message.version == 1


def test_negative_sizes_are_rejected():
    with pytest.raises(ValidationError, match="size"):
        FileDiscovered(file_id=uuid4(), server_id=1, remote_path="x", size=-1)


def test_file_ready_carries_what_consumers_need():
    now = datetime.now(UTC)
    ready = FileReady(
        file_id=uuid4(), server=ServerRef(id=1, name="acme"), remote_path="in/x",
        filename="x", size=1, sha256="a" * 64, md5="b" * 32, bucket="intake",
        object_key="acme/x", etag="e", discovered_at=now, stored_at=now,
    )
    body = ready.model_dump(mode="json")
    assert body["server"] == {"id": 1, "name": "acme"}
    assert body["file_id"] == str(ready.file_id)


def test_topology_names_derive_from_the_prefix():
    topology = Topology("run42")
    assert topology.queue(Stage.DISCOVERED) == "run42.discovered"
    assert topology.dead_letter_queue(Stage.STORED) == "run42.stored.dlq"
    assert topology.routing_key(Stage.STORED) == "file.stored"
    assert topology.exchange == "run42"


def test_a_copy_s_messages_are_named_after_its_spool():
    topology = Topology("run42")
    assert topology.queue(Stage.DOWNLOADED, "host-a") == "run42.spool.host-a.downloaded"
    assert topology.routing_key(Stage.DOWNLOADING, "host-a") == "file.downloading@host-a"
    assert topology.retry_queue(Stage.DOWNLOADED, "b") == "run42.spool.b.downloaded.retry"
    assert topology.dead_letter_routing_key(Stage.DOWNLOADED) == "file.downloaded"
    with pytest.raises(ValueError, match="needs spool"):
        topology.queue(Stage.DOWNLOADED)
    with pytest.raises(ValueError, match="takes no spool"):
        topology.routing_key(Stage.DISCOVERED, "host-a")
