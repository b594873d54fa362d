"""The download's writer thread hashes what it writes and hands its failures back."""

import errno
import hashlib
import io

import pytest

from services.downloader.hashing_writer import HashingWriter


def test_writes_and_hashes_in_order() -> None:
    out, sha256, md5 = io.BytesIO(), hashlib.sha256(), hashlib.md5()
    chunks = [bytes([i]) * 1000 for i in range(50)]
    with HashingWriter(out, sha256, md5, depth=2) as writer:
        for start in range(0, len(chunks), 7):
            writer.write(chunks[start:start + 7])
    data = b"".join(chunks)
    assert out.getvalue() == data
    assert sha256.hexdigest() == hashlib.sha256(data).hexdigest()
    assert md5.hexdigest() == hashlib.md5(data).hexdigest()


class _FullDisk(io.BytesIO):
    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() >= 3000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


def test_a_write_failure_reaches_the_reader() -> None:
    # The error surfaces on a later write or when the writer closes.
    with pytest.raises(OSError) as failure, \
            HashingWriter(_FullDisk(), hashlib.sha256(), hashlib.md5(), depth=2) as writer:
        for _ in range(100):
            writer.write([b"x" * 500, b"y" * 500])
    assert failure.value.errno == errno.ENOSPC


def test_without_a_thread_it_writes_at_once_and_raises_at_once() -> None:
    out, sha256 = io.BytesIO(), hashlib.sha256()
    with HashingWriter(out, sha256, threaded=False) as writer:
        writer.write([b"ab", b"cd"])
        assert out.getvalue() == b"abcd"  # written by the caller, not later
    assert sha256.hexdigest() == hashlib.sha256(b"abcd").hexdigest()
    with pytest.raises(OSError), HashingWriter(_FullDisk(), threaded=False) as writer:
        writer.write([b"x" * 4000])
        writer.write([b"y"])  # the disk is full now
