"""Multipart uploads stay within S3's 10,000 parts, so 100 GiB files can be stored."""

import pytest

from infra.storage import MAX_PARTS, PART_SIZE, part_size

GiB = 1024**3


@pytest.mark.parametrize("size", [0, 1, PART_SIZE, 10 * GiB, 78 * GiB, 100 * GiB, 5 * 1024 * GiB])
def test_part_count_within_limit(size: int) -> None:
    chosen = part_size(size)
    assert chosen >= PART_SIZE
    assert chosen % (1024 * 1024) == 0
    assert -(-size // chosen) <= MAX_PARTS


def test_small_files_keep_the_default_part_size() -> None:
    assert part_size(GiB) == PART_SIZE
    assert part_size(100 * GiB) > PART_SIZE
