"""Sums every ``step``-th column of a CSV file, exactly, reading it as a stream.

pyarrow's streaming reader parses the file block by block, on a thread of its own, while
``pyarrow.compute`` sums the summed columns of the block before (a batch whose cells are
all plain numbers is cast and summed at once; the others' cells are classified one by
one); the rare rows whose cell count differs from the first rows' are handed back by
pyarrow and parsed with Python's ``csv`` module (bench/csv_parsers.py measured the
alternatives). Memory is bounded by the block size
whatever the file's: pyarrow reads up to 32 blocks ahead (a fixed queue in its reader).

What the result means:

- A cell is *numeric* when, once the ASCII whitespace around it is removed, it is plain
  decimal notation: an optional sign, digits, an optional decimal point
  (``42``, `` 42 ``, ``+5``, ``-0.5``, ``.5``, ``5.``). ``1e3``, ``1,000``, ``n/a``,
  ``0x1F`` and non-ASCII digits are *non-numeric*; a cell empty once stripped is *empty*.
  Numeric cells are summed as ``Decimal``: the sum is exact and keeps the largest number
  of decimals seen (``1.50`` + ``2`` gives ``"3.50"``).
- The summed columns are ``offset``, ``offset + step``, ... up to the width of the first
  row (the header, when there is one); cells beyond that width are ignored, so rows
  longer than the header are fine. Columns are keyed by their 1-based number, as strings.
- ``header`` maps each summed column to its name, or is None without a header. With
  ``SumOptions.header=None`` the first row is a header when at least one of its cells in
  the summed columns (all its cells, when it has none) is not empty and none is numeric.
- ``rows`` counts data rows: the header and blank lines are not rows, and a quoted cell
  spanning lines stays one row. Rows are numbered from 1 on that count (the first row
  after the header is row 1), which is what ``non_numeric.first`` reports.
- ``skipped.empty`` and ``skipped.non_numeric`` list only the columns that had such cells;
  ``non_numeric`` keeps the first five cells per column, values cut to 100 characters.
- A *short row* has fewer cells than the last summed column: it is counted in
  ``short_rows``, the summed cells it does have count as usual, the missing ones count
  nowhere else.

The input must be UTF-8 (a BOM is skipped) with ``\\n`` or ``\\r\\n`` line endings; NUL
bytes or invalid UTF-8 anywhere, or a row longer than a block, raise CsvError. Quotes are
read as pyarrow and Python's csv module both read them, leniently: ``"ab"c`` is ``abc``,
and a quote left open runs to the end of the file, an error only when that is more than
a block away.
"""

import csv
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import MAX_PREC, Context, Decimal
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

from services.processor.csv_input import BLOCK_SIZE, PEEK, CsvError, Source, first_rows

_SPACE = " \t\n\r\f\v"  # what pyarrow's ascii_trim_whitespace removes
_NUMBER = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"
_NUMBER_RE = re.compile(_NUMBER)
_NUMBER_RE2 = f"^{_NUMBER}$"  # the same for pyarrow (RE2)
_EXAMPLES = 5
_VALUE_CHARS = 100
_EXACT = Context(prec=MAX_PREC)  # additions never round
_DECIMAL_DIGITS = 38  # decimal128: a batch summed there must not be able to overflow
# Arguments of pyarrow.compute calls, built once: given a Python literal, pyarrow 26 tries
# to import dateutil on every call, which costs more than the kernel on a block's cells.
_EMPTY = pa.scalar("")
_ZERO, _ONE = pa.scalar(0, pa.int32()), pa.scalar(1, pa.int32())
_PLAIN_CHARACTERS = b"0123456789.+-"  # every character of a numeric cell, unstripped
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class SumOptions:
    step: int = 10  # sum columns offset, offset+step, offset+2*step, ... (1-based)
    offset: int = 10
    header: bool | None = None  # None: detect (see the module docstring)
    delimiter: str = ","

    def __post_init__(self) -> None:
        if self.step < 1 or self.offset < 1:
            raise ValueError("step and offset must be at least 1")
        if len(self.delimiter) != 1 or self.delimiter in '"\r\n':
            raise ValueError(f"unusable delimiter {self.delimiter!r}")


def _is_number(cell: str) -> bool:
    return _NUMBER_RE.fullmatch(cell.strip(_SPACE)) is not None


def _looks_like_header(row: list[str], summed: list[int]) -> bool:
    judged = [row[number - 1] for number in summed] or row
    return (any(cell.strip(_SPACE) for cell in judged)
            and not any(_is_number(cell) for cell in judged))


def _decimals(values: pa.Array) -> int:
    """The most digits after the point among numeric cells (already stripped)."""
    dot = pc.find_substring(values, ".")
    after = pc.subtract(pc.subtract(pc.binary_length(values), dot), _ONE)
    return pc.max(pc.if_else(pc.less(dot, _ZERO), _ZERO, after)).as_py()


def _fits(values: pa.Array, scale: int) -> bool:
    """No sum of these cells, at this scale, can overflow decimal128."""
    longest = pc.max(pc.binary_length(values)).as_py()
    return longest + scale + len(str(len(values))) <= _DECIMAL_DIGITS


def _exact_sum(values: pa.Array) -> Decimal:
    """The sum of numeric cells (already stripped): in decimal128 when no batch of them
    can overflow it, else one by one in Python."""
    if (typed := _as_decimal(values, _decimals(values))) is not None:
        return pc.sum(typed).as_py()
    total = Decimal(0)
    for value in values.to_pylist():
        total = _EXACT.add(total, Decimal(value))
    return total


def _characters(cells: pa.Array) -> bytes:
    """The cells' text, one after another: the slice of the string array's data buffer."""
    _, offsets, data = cells.buffers()
    if data is None:  # every cell empty
        return b""
    ends = memoryview(offsets).cast("i")  # pa.string(): 32-bit offsets
    return bytes(memoryview(data)[ends[cells.offset]:ends[cells.offset + len(cells)]])


def _plain_sum(cells: pa.Array, scale: int) -> tuple[Decimal, int] | None:
    """The exact sum of cells that are all numeric with no space around them (most
    batches), and the scale the column keeps; None when one is not.

    Cheaper than matching each cell: the cells' characters are checked at once, and then
    pyarrow's casts from text accept exactly the numeric cells among texts of those
    characters (int64's fewer: not ``+5``; tests/unit/test_csv_sums.py checks both), so
    a cast that succeeds means every cell was numeric. ``scale`` is the most decimals the
    column has had: tried first, it spares finding each cell's point."""
    text = _characters(cells)
    if text.translate(None, _PLAIN_CHARACTERS):  # a letter, a space, an "e" or "x"...
        return None
    try:
        if b"." not in text:
            ints = pc.cast(cells, pa.int64())
            low, high = (value.as_py() for value in pc.min_max(ints).values())
            if max(-low, high) * len(cells) <= _INT64_MAX:
                return Decimal(pc.sum(ints).as_py()), scale
    except pa.ArrowInvalid:  # "+5", an empty cell, a number past int64...
        pass
    typed = _as_decimal(cells, scale)
    if typed is None:  # more decimals than so far, or not all numbers
        scale = max(scale, _decimals(cells))
        typed = _as_decimal(cells, scale)
    return None if typed is None else (pc.sum(typed).as_py(), scale)


def _as_decimal(cells: pa.Array, scale: int) -> pa.Array | None:
    """The cells as decimal128 at scale; None when one is not a number or has more
    decimals, or when their sum could overflow."""
    if not _fits(cells, scale):
        return None
    try:
        return pc.cast(cells, pa.decimal128(_DECIMAL_DIGITS, scale))
    except pa.ArrowInvalid:
        return None


class _Column:
    """One summed column's running sum and skipped cells."""

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.scale = 0  # the most decimals of a numeric cell so far
        self.empty = 0
        self.non_numeric = 0
        self.first: list[tuple[int, str]] = []  # the lowest-numbered non-numeric cells

    def _note(self, examples: Iterable[tuple[int, str]]) -> None:
        cut = [(row, value[:_VALUE_CHARS]) for row, value in examples]
        self.first = sorted(self.first + cut)[:_EXAMPLES]

    def add_cell(self, cell: str, row: int) -> None:
        text = cell.strip(_SPACE)
        if not text:
            self.empty += 1
        elif _NUMBER_RE.fullmatch(text):
            self.total = _EXACT.add(self.total, Decimal(text))
        else:
            self.non_numeric += 1
            self._note([(row, cell)])

    def add_cells(self, cells: pa.Array, rows: Callable[[list[int]], list[int]]) -> None:
        """A batch's cells; rows gives the row numbers of cells by their index."""
        if plain := _plain_sum(cells, self.scale):
            total, self.scale = plain
            self.total = _EXACT.add(self.total, total)
            return
        text = pc.ascii_trim_whitespace(cells)
        empty = pc.equal(text, _EMPTY)
        numeric = pc.match_substring_regex(text, _NUMBER_RE2)
        empties, numbers = pc.sum(empty).as_py(), pc.sum(numeric).as_py()
        self.empty += empties
        if bad := len(cells) - empties - numbers:
            self.non_numeric += bad
            if len(self.first) < _EXAMPLES or self.first[-1][0] > rows([0])[0]:
                where = pc.indices_nonzero(pc.invert(pc.or_(empty, numeric)))
                indices = where[:_EXAMPLES].to_pylist()
                self._note(zip(rows(indices), cells.take(indices).to_pylist(), strict=True))
        if numbers:
            values = text if numbers == len(text) else text.filter(numeric)
            self.total = _EXACT.add(self.total, _exact_sum(values))


class _Tally:
    """The job's counts. Rows arrive in pyarrow's batches and, one by one and possibly
    ahead of the batches, from its invalid-row handler (rows whose cell count differs
    from its column count), which numbers them; batch rows get their numbers by
    counting the handler's rows before them.

    pyarrow may call the handler on its reading thread while this one adds a batch: the
    handler only parses its row and queues it (``deque`` appends are atomic), and the
    rows are added here, on the thread that adds the batches, so no count is updated by
    two threads at once."""

    def __init__(self, summed: list[int], delimiter: str) -> None:
        self.columns = {number: _Column() for number in summed}
        self._widest = summed[-1] if summed else 0
        self.delimiter = delimiter
        self.rows = 0
        self.short_rows = 0
        self.failure: CsvError | None = None
        self._batch_rows = 0  # rows pyarrow has put in batches
        self._odd: deque[int] = deque()  # handler rows not yet behind a batch, ascending
        self._odd_behind = 0
        self._arrived: deque[tuple[list[str], int]] = deque()  # handler rows to add

    def _numbers(self, indices: list[int]) -> list[int]:
        """Row numbers of the current batch's rows at ascending indices."""
        base = self._batch_rows + self._odd_behind + 1
        numbers, odd = [], iter(tuple(self._odd))  # a copy: the handler may append
        skip, next_odd = 0, next(odd, None)
        for index in indices:
            number = base + index + skip
            while next_odd is not None and next_odd <= number:
                skip, number, next_odd = skip + 1, number + 1, next(odd, None)
            numbers.append(number)
        return numbers

    def add_batch(self, batch: pa.RecordBatch) -> None:
        self.add_arrived()
        if not batch.num_rows:
            return
        # strict=False: without summed columns the batch still has one, to count rows
        for column, cells in zip(self.columns.values(), batch.columns, strict=False):
            column.add_cells(cells, self._numbers)
        last = self._numbers([batch.num_rows - 1])[0]
        while self._odd and self._odd[0] < last:
            self._odd.popleft()
            self._odd_behind += 1
        self._batch_rows += batch.num_rows
        self.rows += batch.num_rows

    def add_arrived(self) -> None:
        """Add the rows the handler queued."""
        while self._arrived:
            self.add_row(*self._arrived.popleft())

    def add_row(self, cells: list[str], number: int) -> None:
        self.rows += 1
        if len(cells) < self._widest:
            self.short_rows += 1
        for column_number, column in self.columns.items():
            if column_number <= len(cells):
                column.add_cell(cells[column_number - 1], number)

    def invalid_row(self, row: pa_csv.InvalidRow) -> str:
        """pyarrow's invalid_row_handler; it prints and drops what this raises, so a
        failure is kept for the caller."""
        try:
            cells = next(csv.reader([row.text], delimiter=self.delimiter))
        except csv.Error as error:
            self.failure = CsvError(f"row {row.number}: {error}")
            return "error"
        self._arrived.append((cells, row.number))
        self._odd.append(row.number)
        return "skip"

    def result(self, header: list[str] | None) -> dict:
        self.add_arrived()  # the reader is done: the handler queues no more
        columns = self.columns.items()
        return {
            "columns": {str(n): format(column.total, "f") for n, column in columns},
            "header": {str(n): header[n - 1] for n in self.columns} if header else None,
            "rows": self.rows,
            "skipped": {
                "empty": {str(n): column.empty for n, column in columns if column.empty},
                "non_numeric": {
                    str(n): {"count": column.non_numeric,
                             "first": [{"row": row, "value": value}
                                       for row, value in column.first]}
                    for n, column in columns if column.non_numeric},
                "short_rows": self.short_rows,
            },
        }


def _parsed_ahead(reader: pa_csv.CSVStreamingReader) -> Iterator[pa.RecordBatch]:
    """The reader's batches, the next one parsed on a thread of its own while the caller
    sums this one: pyarrow releases the GIL in both, so they take a core each."""
    with ThreadPoolExecutor(1, thread_name_prefix="csv-parse") as parser:
        pending = parser.submit(reader.read_next_batch)
        while True:
            try:
                batch = pending.result()
            except StopIteration:
                return
            pending = parser.submit(reader.read_next_batch)
            yield batch


def sum_columns(stream: BinaryIO, options: SumOptions, *,
                progress: Callable[[int, int], None] | None = None) -> dict:
    """Sums the chosen columns of the CSV read from stream (see the module docstring).

    progress(rows_done, bytes_consumed) is called after every block; bytes_consumed is
    what has been read from stream, which runs ahead of the rows counted.
    """
    source = Source(stream)
    first, data, first_end = first_rows(source, options.delimiter)
    if not first:
        return _Tally([], options.delimiter).result(None)
    summed = list(range(options.offset, len(first[0]) + 1, options.step))
    header = options.header
    if header is None:
        header = _looks_like_header(first[0], summed)
    names_row = first[0] if header else None
    tally = _Tally(summed, options.delimiter)
    rest = data[first_end:] if header else data
    if not rest and not (rest := source.read(PEEK)):  # pyarrow: "Empty CSV file"
        return tally.result(names_row)
    source.unread(rest)
    width = max(len(row) for row in first)  # a header shorter than the data is common
    names = [f"c{number}" for number in range(1, width + 1)]
    included = [names[number - 1] for number in summed] or names[:1]  # [:1]: rows only
    try:
        reader = pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(
                use_threads=False,  # else the handler gets no row numbers
                block_size=BLOCK_SIZE, column_names=names),
            parse_options=pa_csv.ParseOptions(
                delimiter=options.delimiter, newlines_in_values=True,
                invalid_row_handler=tally.invalid_row),
            convert_options=pa_csv.ConvertOptions(
                include_columns=included,
                column_types=dict.fromkeys(included, pa.string()),
                strings_can_be_null=False))
        for batch in _parsed_ahead(reader):
            tally.add_batch(batch)
            if progress:
                progress(tally.rows, source.consumed)
    except pa.ArrowInvalid as error:
        if tally.failure:
            raise tally.failure from error
        if "straddl" in str(error):  # pyarrow's words for a row longer than a block
            raise CsvError(f"a row is longer than {BLOCK_SIZE} bytes"
                           " (a quoted cell never closed?)") from error
        raise CsvError(f"unreadable CSV: {error}") from error
    return tally.result(names_row)
