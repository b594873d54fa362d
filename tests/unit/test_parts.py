"""How a file is cut into multipart parts, and reading a spool file that is still growing."""

import threading
from pathlib import Path

import pytest

from infra.storage import UploadedPart
from services.uploader.parts import PartPlan
from services.uploader.spool_reader import SpoolFile, SpoolNotGrowing, StreamAbandoned


def test_parts_cover_the_file_once_and_only_the_last_is_short() -> None:
    plan = PartPlan(size=25, part_size=10)
    assert plan.count == 3
    assert [plan.span(n) for n in (1, 2, 3)] == [(0, 10), (10, 10), (20, 5)]
    assert PartPlan(size=20, part_size=10).count == 2
    assert PartPlan(size=0, part_size=10).count == 1  # S3 wants one part, even empty


def test_a_stored_part_of_the_wrong_length_is_sent_again() -> None:
    plan = PartPlan(size=25, part_size=10)
    stored = {1: UploadedPart(1, "a", 10), 3: UploadedPart(3, "c", 10)}
    assert plan.missing(stored) == [2, 3]
    assert plan.missing({}) == [1, 2, 3]


def test_a_read_waits_for_the_bytes_to_be_written(tmp_path: Path) -> None:
    part = tmp_path / "f.part"
    part.write_bytes(b"abc")
    with SpoolFile.open((part, tmp_path / "f"), abort=threading.Event(),
                        stall_seconds=30) as spool:
        appended = threading.Event()

        def append_later() -> None:
            appended.wait(5)
            with part.open("ab") as out:
                out.write(b"defgh")

        writer = threading.Thread(target=append_later)
        writer.start()
        appended.set()
        assert spool.read(2, 5) == b"cdefg"
        writer.join()


def test_a_read_gives_up_when_the_file_stops_growing(tmp_path: Path) -> None:
    part = tmp_path / "f.part"
    part.write_bytes(b"abc")
    with SpoolFile.open((part,), abort=threading.Event(), stall_seconds=0.1) as spool, \
            pytest.raises(SpoolNotGrowing):
        spool.read(0, 10)


def test_an_abandoned_stream_stops_waiting(tmp_path: Path) -> None:
    abandon = threading.Event()
    abandon.set()
    with pytest.raises(StreamAbandoned):
        SpoolFile.open((tmp_path / "never.part",), abort=abandon, stall_seconds=60)


def test_an_abandoned_stream_stops_before_the_next_part(tmp_path: Path) -> None:
    part = tmp_path / "f.part"
    part.write_bytes(b"abcdef")
    abandon = threading.Event()
    with SpoolFile.open((part,), abort=abandon, stall_seconds=30) as spool:
        assert spool.read(0, 3) == b"abc"
        abandon.set()
        with pytest.raises(StreamAbandoned):
            spool.read(3, 3)  # the bytes are there; the stream stops all the same
