"""A CSV stream as the column sums read it: the bytes checked for NUL and UTF-8 as they
pass (``Source``, the object pyarrow's reader pulls its blocks from), and the first rows
parsed by Python's ``csv`` module, which decide the header and pyarrow's column count."""

import codecs
import csv
from collections.abc import Iterator
from typing import BinaryIO

BLOCK_SIZE = 1 << 20  # pyarrow's unit of reading and parsing; also the longest row it takes
PEEK = 64 << 10  # how much is read at a time to find the first rows
_BOM = codecs.BOM_UTF8


class CsvError(Exception):
    """The input is not a CSV this can read (binary, bad encoding, unterminated quote...):
    a permanent job failure with a clear message."""


class Source:
    """The stream as pyarrow reads it: checked for NUL bytes and UTF-8 as it passes,
    counted, with the bytes already peeked at served first."""

    closed = False  # pyarrow's PythonFile asks

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._pending = b""
        self.consumed = 0

    def unread(self, data: bytes) -> None:
        self._pending = data + self._pending

    def read(self, size: int = -1) -> bytes:
        size = BLOCK_SIZE if size < 0 else size
        parts = [self._pending[:size]]
        self._pending = self._pending[size:]
        wanted = size - len(parts[0])
        # filled: pyarrow takes a short read for a block, and a row across three is an error
        while wanted and (part := self._pull(wanted)):
            parts.append(part)
            wanted -= len(part)
        return b"".join(parts)

    def _pull(self, size: int) -> bytes:
        chunk = self._stream.read(size)
        if b"\0" in chunk:
            where = self.consumed + chunk.index(b"\0")
            raise CsvError(f"binary data (a NUL byte at byte {where}), not a CSV file")
        if not (chunk.isascii() and self._decoder.getstate()[0] == b""):
            try:
                self._decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as error:
                raise CsvError(f"not UTF-8 text (near byte {self.consumed + error.start})"
                               ) from None
        self.consumed += len(chunk)
        return chunk


def records_of(data: bytes, delimiter: str, eof: bool) -> list[tuple[list[str], int]]:
    """The first two complete records of data, each with the offset where it ends."""
    position, exhausted = 0, False

    def lines() -> Iterator[str]:
        nonlocal position, exhausted
        while (end := data.find(b"\n", position)) >= 0:
            start, position = position, end + 1
            yield data[start:position].decode()
        if eof and position < len(data):
            start, position = position, len(data)
            yield data[start:].decode()
        exhausted = True

    records = []
    try:
        for row in csv.reader(lines(), delimiter=delimiter):
            if exhausted and not eof:  # the record goes on past what has been read
                break
            if row:  # blank lines are not rows, for pyarrow either
                records.append((row, position))
                if len(records) == 2:
                    break
    except csv.Error as error:
        raise CsvError(f"first rows: {error}") from None
    return records


def first_rows(source: Source, delimiter: str) -> tuple[list[list[str]], bytes, int]:
    """The first two rows (for the header and pyarrow's column count), the bytes read to
    find them and the offset where the first ends."""
    data, eof = b"", False
    while len(data) < len(_BOM) and not eof:
        chunk = source.read(PEEK)
        data, eof = data + chunk, not chunk
    data = data.removeprefix(_BOM)
    while True:
        records = records_of(data, delimiter, eof)
        if len(records) == 2 or eof or (records and len(data) >= BLOCK_SIZE):
            break
        if len(data) >= BLOCK_SIZE:
            raise CsvError(f"the first row is longer than {BLOCK_SIZE} bytes"
                           " (a quoted cell never closed?)")
        chunk = source.read(max(PEEK, len(data)))  # doubling: each try parses it all again
        data, eof = data + chunk, not chunk
    return [row for row, _ in records], data, records[0][1] if records else 0
