"""A generated CSV for the processor's column sums, with the sums known in advance.

30 columns of integers, 2-decimal values and both mixed, written by pyarrow 100,000 rows
at a time, with a few odd rows (empty cells, ``n/a``, ``1e3``, quoted commas and
newlines, a short and a long row) at the start, in the middle and at the end. The exact
sums of every 10th column come from the numbers before they are formatted (cents summed
as integers) and from what each odd row is written to add: not from reading the text back.
"""

import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

COLUMNS = 30
STEP = OFFSET = 10
SUMMED = tuple(range(OFFSET, COLUMNS + 1, STEP))
CHUNK = 100_000


@dataclass(frozen=True)
class GeneratedCsv:
    path: Path
    rows: int  # data rows, the header not counted
    sums: dict[str, Decimal]  # summed column (1-based, as the processor keys it) -> sum

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6


def _row(cells: dict[int, str], width: int = COLUMNS) -> str:
    return ",".join(cells.get(i, str(i)) for i in range(1, width + 1)) + "\n"


# Each odd row and what it adds to the summed columns (cells not shown hold their column
# number): only plain decimal notation is a number, so "1e3" and "1,000" add nothing.
_ODD: list[tuple[str, dict[int, str]]] = [
    (_row({10: "", 20: "n/a", 30: '"x, y"'}), {}),
    (_row({10: " 42 ", 20: "+5", 30: "-0.5"}), {10: "42", 20: "5", 30: "-0.5"}),
    (_row({5: '"a\nb"', 10: '"1,000"', 20: "1e3", 30: '"multi\nline"'}), {}),
    (_row({}, width=25), {10: "10", 20: "20"}),  # short: no column 30
    (_row({}, width=33), {10: "10", 20: "20", 30: "30"}),  # long: cells 31-33 ignored
    (_row({10: "", 20: "  ", 30: '""'}), {}),
]
_ODD_TEXT = "".join(text for text, _ in _ODD).encode()
_ODD_WRITTEN = 3


def generate(path: Path, rows: int) -> GeneratedCsv:
    """Write ``rows`` data rows (quoted newlines keep a row one row) under a header."""
    # imported here: bench/csv_parsers.py measures the readers' peak RSS in processes
    # that import this module, and pyarrow alone adds ~40 MB to it
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    def ints(n: int, seed: int) -> tuple[pa.Array, pa.Array]:
        """Integers in (-10^6, 10^6): (values, text)."""
        spread = pc.subtract(pc.multiply(pc.random(n, initializer=seed), 2e6), 1e6)
        values = pc.cast(spread, pa.int64(), safe=False)
        return values, pc.cast(values, pa.string())

    def cents(n: int, seed: int) -> tuple[pa.Array, pa.Array]:
        """Amounts in (-100000, 100000) with two decimals: (cents, text)."""
        spread = pc.subtract(pc.multiply(pc.random(n, initializer=seed), 2e7), 1e7)
        values = pc.cast(spread, pa.int64(), safe=False)
        whole = pc.divide(pc.abs(values), 100)  # integer division
        fraction = pc.utf8_lpad(pc.cast(pc.subtract(pc.abs(values), pc.multiply(whole, 100)),
                                        pa.string()), 2, "0")
        sign = pc.if_else(pc.less(values, 0), "-", "")
        return values, pc.binary_join_element_wise(sign, pc.cast(whole, pa.string()), ".",
                                                   fraction, "")

    def total(values: pa.Array, where: pa.Array | None = None) -> int:
        return pc.sum(values if where is None else values.filter(where)).as_py() or 0

    def column(n: int, seed: int, number: int) -> tuple[pa.Array, Decimal]:
        """Column ``number``'s cells of one chunk and their exact sum."""
        kind = number % 3
        if kind == 1:
            values, text = ints(n, seed)
            return text, Decimal(total(values))
        amounts, decimals = cents(n, seed)
        if kind == 0:
            return decimals, Decimal(total(amounts)).scaleb(-2)
        values, text = ints(n, seed)
        pick = pc.less(pc.random(n, initializer=-seed), 0.5)
        exact = (Decimal(total(values, pick))
                 + Decimal(total(amounts, pc.invert(pick))).scaleb(-2))
        return pc.if_else(pick, text, decimals), exact

    plain = rows - _ODD_WRITTEN * len(_ODD)
    if plain < 1:
        raise ValueError(f"at least {_ODD_WRITTEN * len(_ODD) + 1} rows")
    sums = {number: Decimal(0) for number in SUMMED}
    for _, adds in _ODD:
        for number, value in adds.items():
            sums[number] += _ODD_WRITTEN * Decimal(value)
    chunks = -(-plain // CHUNK)
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    with path.open("wb") as out:
        out.write((",".join(f"c{i}" for i in range(1, COLUMNS + 1)) + "\n").encode())
        out.write(_ODD_TEXT)
        for chunk in range(chunks):
            n = min(CHUNK, plain - chunk * CHUNK)
            arrays = {}
            for number in range(1, COLUMNS + 1):
                arrays[f"c{number}"], exact = column(n, chunk * COLUMNS + number, number)
                if number in sums:
                    sums[number] += exact
            buffer = io.BytesIO()
            pa_csv.write_csv(pa.table(arrays), buffer, options)
            out.write(buffer.getbuffer())
            if chunk == chunks // 2:
                out.write(_ODD_TEXT)
        out.write(_ODD_TEXT)
    return GeneratedCsv(path, rows, {str(number): value for number, value in sums.items()})
