"""The channel buffer that replaces paramiko's: same bytes out, in the same order."""

import random

from infra.sftp.wire import ChannelBuffer


def test_reads_of_any_size_return_the_stream_in_order():
    rng = random.Random(7)
    stream = rng.randbytes(300_000)
    pipe = ChannelBuffer()
    fed = read = 0
    out = bytearray()
    while read < len(stream):
        if fed < len(stream) and (rng.random() < 0.5 or len(pipe) == 0):
            step = rng.choice((1, 13, 4096, 32_768, 70_000))
            pipe.feed(stream[fed:fed + step])
            fed = min(fed + step, len(stream))
        else:
            chunk = pipe.read(rng.choice((1, 4, 100, 32_781, 261_120)), timeout=0)
            out += chunk
            read += len(chunk)
        assert len(pipe) == fed - read
    assert bytes(out) == stream


def test_a_read_of_a_whole_piece_is_that_piece():
    pipe = ChannelBuffer()
    piece = b"x" * 1000
    pipe.feed(piece)
    assert pipe.read(1000, timeout=0) is piece


def test_empty_takes_everything():
    pipe = ChannelBuffer()
    for part in (b"ab", b"cde", b"f"):
        pipe.feed(part)
    assert pipe.read(1, timeout=0) == b"a"
    assert pipe.empty() == b"bcdef"
    assert len(pipe) == 0
