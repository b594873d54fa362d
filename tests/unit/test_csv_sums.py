"""The processor's column sums (services/processor/csv_sums.py) on inputs built here."""

import io
import itertools
import random
import tracemalloc
from decimal import Decimal, localcontext

import pyarrow as pa
import pytest

from services.processor import csv_input, csv_sums
from services.processor.csv_sums import CsvError, SumOptions, sum_columns

EVERY = {"step": 1, "offset": 1}  # sum every column


def sums(data: bytes, **options: object) -> dict:
    return sum_columns(io.BytesIO(data), SumOptions(**options))


def csv_bytes(rows: list[list[str]], newline: str = "\n") -> bytes:
    return "".join(",".join(row) + newline for row in rows).encode()


class CountingStream:
    """total bytes of block, repeated, made as they are asked for; keeps every read size."""

    def __init__(self, block: bytes, total: int) -> None:
        self.block, self.total, self.given = block, total, 0
        self.sizes: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.sizes.append(size)
        size = min(size, self.total - self.given)
        start = self.given % len(self.block)
        repeats = (start + size) // len(self.block) + 1
        out = (self.block * repeats)[start:start + size]
        self.given += len(out)
        return out


def _blocks(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """pyarrow's blocks, and the longest row, of ``size`` bytes."""
    for module in (csv_sums, csv_input):
        monkeypatch.setattr(module, "BLOCK_SIZE", size)


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> int:
    """Blocks of 256 bytes: a few rows a batch, so rows cross blocks and batches."""
    _blocks(monkeypatch, 256)
    return 256


def test_ints_and_decimals_sum_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    _blocks(monkeypatch, 16 << 10)
    rng = random.Random(1)
    values = {  # column: how its cells are made
        10: lambda: str(rng.randint(-10**12, 10**12)),
        20: lambda: f"{rng.randint(-10**9, 10**9) / 100:.2f}",
        30: lambda: rng.choice([str(rng.randint(-99, 99)), f"{rng.random():.3f}", "0.1"]),
    }
    rows = [[values[c]() if c in values else "x" for c in range(1, 31)] for _ in range(8000)]
    result = sum_columns(io.BytesIO(csv_bytes([[f"h{c}" for c in range(1, 31)], *rows])),
                         SumOptions())
    with localcontext(prec=200):
        want = {str(c): format(sum(Decimal(row[c - 1]) for row in rows), "f") for c in values}
    assert result["columns"] == want
    assert result["rows"] == 8000
    assert result["skipped"] == {"empty": {}, "non_numeric": {}, "short_rows": 0}


def test_numbers_too_long_for_decimal128_still_sum_exactly() -> None:
    big = "123456789012345678901234567890123456789.25"
    result = sums(csv_bytes([["a"], [big], [big], ["-0.005"]]), **EVERY)
    assert result["columns"] == {"1": "246913578024691357802469135780246913578.495"}


def test_no_float_drift() -> None:
    assert sums(b"0.1\n" * 10_000, **EVERY)["columns"] == {"1": "1000.0"}


@pytest.mark.parametrize("cell", ["42", " 42 ", "\t7\t", "+5", "-0.5", ".5", "5.", "007"])
@pytest.mark.parametrize("short", [False, True], ids=["batch", "short row"])
def test_what_counts_as_a_number(cell: str, short: bool) -> None:
    row = f'"{cell}"' if short else f'"{cell}",1'  # a short row is parsed by Python
    result = sums(f"a,b\n{row}\n".encode(), **EVERY)
    assert result["columns"]["1"] == format(Decimal(cell.strip()), "f")
    assert result["skipped"]["non_numeric"] == {}


@pytest.mark.parametrize("cell", ["1e3", "1,000", "n/a", "0x1F", "--5", "5-", "1.2.3",
                                  "١٢", "NaN", "inf", "1 000"])
@pytest.mark.parametrize("short", [False, True], ids=["batch", "short row"])
def test_what_does_not(cell: str, short: bool) -> None:
    row = f'"{cell}"' if short else f'"{cell}",1'
    result = sums(f"a,b\n{row}\n".encode(), **EVERY)
    assert result["columns"]["1"] == "0"
    assert result["skipped"]["non_numeric"] == {
        "1": {"count": 1, "first": [{"row": 1, "value": cell}]}}


def test_the_casts_accept_exactly_the_numeric_texts() -> None:
    """The fast path trusts pyarrow's casts from text to tell numbers among texts of
    digits, points and signs; every such text up to five characters, alone in its batch
    and among numbers, is summed by it exactly when it is a number."""
    texts = ["".join(chars) for length in range(1, 6)
             for chars in itertools.product("01.+-", repeat=length)]
    for text in texts:
        numeric = csv_sums._is_number(text)
        for cells in ([text], ["7", text], ["0.25", text]):
            plain = csv_sums._plain_sum(pa.array(cells), 0)
            assert (plain is not None) == numeric, cells
            if numeric:
                with localcontext(prec=50):
                    assert plain[0] == sum(map(Decimal, cells)), cells
    for text in ["1e3", "1E3", "0x1F", "0X1F", " 4", "4 ", "", "١٢", "1,5", "inf"]:
        assert csv_sums._plain_sum(pa.array(["1", text]), 0) is None, text


def test_a_column_gaining_decimals_and_ints_near_int64_sum_exactly(small_blocks: int
                                                                   ) -> None:
    cells = ["1", "2", *["0.5"] * 20, "0.125", *["4"] * 20, *[str(2**62)] * 20,
             str(-2**63), "+3"]
    result = sums(csv_bytes([["a"], *([cell] for cell in cells)]), **EVERY)
    assert result["columns"] == {"1": format(sum(map(Decimal, cells)), "f")}
    assert result["columns"]["1"].endswith(".125")


def test_header_detected_from_the_summed_columns() -> None:
    named = sums(b"name,total\nx,5\ny,6\n", step=1, offset=2)
    assert (named["header"], named["rows"], named["columns"]) == ({"2": "total"}, 2, {"2": "11"})
    data = sums(b"x,5\ny,6\n", step=1, offset=2)  # text in column 1 only: not a header
    assert (data["header"], data["rows"], data["columns"]) == (None, 2, {"2": "11"})


def test_header_given_or_refused() -> None:
    given = sums(b"1,2\n3,4\n", header=True, **EVERY)
    assert (given["header"], given["rows"], given["columns"]) == (
        {"1": "1", "2": "2"}, 1, {"1": "3", "2": "4"})
    refused = sums(b"a,b\n3,4\n", header=False, **EVERY)
    assert (refused["header"], refused["rows"], refused["columns"]) == (
        None, 2, {"1": "3", "2": "4"})
    assert refused["skipped"]["non_numeric"]["1"]["first"] == [{"row": 1, "value": "a"}]


def test_header_only() -> None:
    result = sums(b"a,b\n", **EVERY)
    assert (result["header"], result["rows"], result["columns"]) == (
        {"1": "a", "2": "b"}, 0, {"1": "0", "2": "0"})


def test_empty_cells_are_skipped_and_counted() -> None:
    result = sums(b'a,b,c\n1,,3\n,  ,""\n4,5,6\n', **EVERY)
    assert result["columns"] == {"1": "5", "2": "5", "3": "9"}
    assert result["skipped"]["empty"] == {"1": 1, "2": 2, "3": 1}
    assert result["skipped"]["non_numeric"] == {}


def test_non_numeric_cells_report_the_first_five_by_row(small_blocks: int) -> None:
    """Row numbers count data rows: blank lines and the lines inside a quoted cell are
    not rows. Short and long rows, parsed by Python ahead of pyarrow's batches, are
    numbered and ordered with the rest."""
    lines = {n: f"{n},{n},{n}" for n in range(1, 401)}
    lines[3] = "\n3,3,3"  # a blank line first
    lines[5] = '"x\ny",n/a,5'
    lines[8] = "bad"  # short
    lines[9] = "9,9,9,extra,cells"  # long: fine
    lines[120] = "120,,  "
    lines[399] = "z"
    for n in (100, 150, 200, 250, 300, 350):
        lines[n] = f"{n},e{n},{n}"
    data = ("a,b,c\n" + "".join(lines[n] + "\n" for n in range(1, 401))).encode()
    assert len(data) > 10 * small_blocks
    result = sums(data, **EVERY)
    numeric = [n for n in range(1, 401) if n not in (5, 8, 120, 399)]
    assert result["rows"] == 400
    assert result["columns"] == {
        "1": str(sum(numeric) + 120),
        "2": str(sum(n for n in numeric if n not in (100, 150, 200, 250, 300, 350))),
        "3": str(sum(numeric) + 5)}
    assert result["skipped"] == {
        "empty": {"2": 1, "3": 1},
        "non_numeric": {
            "1": {"count": 3, "first": [{"row": 5, "value": "x\ny"}, {"row": 8, "value": "bad"},
                                        {"row": 399, "value": "z"}]},
            "2": {"count": 7, "first": [{"row": n, "value": v} for n, v in [
                (5, "n/a"), (100, "e100"), (150, "e150"), (200, "e200"), (250, "e250")]]}},
        "short_rows": 2}


def test_long_values_are_cut_in_the_report() -> None:
    result = sums(b"a\n" + b"x" * 500 + b"\n", **EVERY)
    assert result["skipped"]["non_numeric"]["1"]["first"] == [{"row": 1, "value": "x" * 100}]


def test_short_rows_count_their_present_cells() -> None:
    result = sums(b"a,b,c\n1,2,3\n4,5\n6\n7,8,9,10\n", **EVERY)
    assert result["columns"] == {"1": "18", "2": "15", "3": "12"}
    assert (result["rows"], result["skipped"]["short_rows"]) == (4, 2)
    assert result["skipped"]["empty"] == {}


def test_data_wider_than_the_header() -> None:
    result = sums(b"a,b\n1,2,\n3,4,\n", **EVERY)  # a trailing comma on data rows only
    assert result["columns"] == {"1": "4", "2": "6"}
    assert result["skipped"]["short_rows"] == 0


def test_quoted_commas_and_newlines() -> None:
    data = b'id,amount,note\n1,"1,000",x\n2,"3","y"\n3," 4 ","multi\nline, with comma"\n4,"5\n",z\n'
    result = sums(data, step=1, offset=2)
    assert result["rows"] == 4
    assert result["columns"] == {"2": "12", "3": "0"}
    assert result["skipped"]["non_numeric"]["2"] == {
        "count": 1, "first": [{"row": 1, "value": "1,000"}]}
    assert result["skipped"]["non_numeric"]["3"]["first"][2] == {
        "row": 3, "value": "multi\nline, with comma"}


def test_bom() -> None:
    assert sums(b"\xef\xbb\xbfname,total\nx,5\n", **EVERY)["header"] == {
        "1": "name", "2": "total"}
    assert sums(b"\xef\xbb\xbf1,2\n", **EVERY)["columns"] == {"1": "1", "2": "2"}


def test_crlf_reads_as_lf() -> None:
    rows = [["a", "b", "c"], ["1", " 2.5", "x"], ["4"], ["", "5", "6", "7"], ["8", "9", "10"]]
    crlf = sums(csv_bytes(rows, "\r\n"), **EVERY)
    assert crlf == sums(csv_bytes(rows), **EVERY)
    assert crlf["columns"] == {"1": "13", "2": "16.5", "3": "16"}


def test_step_and_offset() -> None:
    rows = [[str(c * 10 + r) for c in range(1, 11)] for r in range(3)]
    result = sums(csv_bytes(rows), step=3, offset=2)
    assert result["columns"] == {"2": "63", "5": "153", "8": "243"}
    assert result["header"] is None


def test_other_delimiter() -> None:
    data = b"id;amount\n1;2.50\n2;3.75\n3;-0.20\n4;9\n"
    assert sums(data, step=1, offset=2, delimiter=";")["columns"] == {"2": "15.05"}


def test_fewer_columns_than_the_offset() -> None:
    result = sums(b"1,2,3\n4,5,6\n")
    assert (result["columns"], result["header"], result["rows"]) == ({}, None, 2)
    assert sums(b"a,b,c\n1,2,3\n4,5,6\n")["rows"] == 2  # all text: a header
    assert sums(b"1,2,3\n4,5\n6,7,8,9\n")["rows"] == 3  # rows of other widths count too


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\n\r\n"])
def test_empty_file(data: bytes) -> None:
    assert sums(data) == {"columns": {}, "header": None, "rows": 0,
                          "skipped": {"empty": {}, "non_numeric": {}, "short_rows": 0}}


def test_binary_file_is_refused() -> None:
    with pytest.raises(CsvError, match="binary data"):
        sums(bytes(range(256)) * 100)
    with pytest.raises(CsvError, match=r"binary data|not UTF-8"):
        sums(random.Random(3).randbytes(100_000))


def test_binary_past_the_first_rows_is_refused() -> None:
    with pytest.raises(CsvError, match=r"NUL byte at byte 3000000"):
        sums(b"1,2\n" * 750_000 + b"\x00\x01\x02")


def test_other_encodings_are_refused() -> None:
    with pytest.raises(CsvError, match="not UTF-8"):
        sums("név,összeg\nx,5\n".encode("latin-1"), **EVERY)


def test_a_row_longer_than_a_block_is_refused(small_blocks: int) -> None:
    with pytest.raises(CsvError, match="longer than 256 bytes"):
        sums(b"a,b\n" + b"1,2\n" * 100 + b'3,"' + b"x" * 600 + b'"\n4,5\n', **EVERY)
    with pytest.raises(CsvError, match="first row is longer"):
        sums(b'a,"' + b"x" * 100_000 + b'"\n4,5\n', **EVERY)


def test_short_reads_are_fine() -> None:
    class Trickle(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(min(size, 7) if size and size > 0 else 7)

    data = b"a,b\n" + b"".join(b"%d,%d.5\n" % (n, n) for n in range(5000))
    assert sum_columns(Trickle(data), SumOptions(**EVERY)) == sums(data, **EVERY)


def test_the_stream_is_read_in_bounded_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """20 MB through 64 KiB blocks: every read asks a block at most, and what the engine
    holds at once (pyarrow reads up to 32 blocks ahead) stays far below the input."""
    block = 64 << 10
    _blocks(monkeypatch, block)
    row = b",".join(b"%d.%02d" % (c * 37, c) for c in range(30)) + b"\n"
    stream = CountingStream(row * 100, (20 << 20) // len(row) * len(row))
    tracemalloc.start()
    try:
        result = sum_columns(stream, SumOptions())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["rows"] == stream.total // len(row)
    assert max(stream.sizes) <= block
    assert len(stream.sizes) > 300
    assert peak < 4 << 20


def test_progress_rises_to_the_totals(small_blocks: int) -> None:
    data = b"a,b\n" + b"".join(b"%d,%d\n" % (n, n) for n in range(2000))
    calls: list[tuple[int, int]] = []
    result = sum_columns(io.BytesIO(data), SumOptions(**EVERY),
                         progress=lambda rows, done: calls.append((rows, done)))
    assert len(calls) > 20
    assert calls == sorted(calls)
    assert [rows for rows, _ in calls] == sorted({rows for rows, _ in calls})
    assert calls[-1] == (result["rows"], len(data))


def test_options_are_checked() -> None:
    for bad in ({"step": 0}, {"offset": 0}, {"delimiter": ";;"}, {"delimiter": '"'}):
        with pytest.raises(ValueError):
            SumOptions(**bad)


def test_many_odd_rows_among_blocks_sum_exactly_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow may hand odd rows over on its reading thread while a batch is being summed:
    none of their cells may be lost (a race seen once in 16 jobs before it was fixed)."""
    _blocks(monkeypatch, 4 << 10)
    rng = random.Random(5)
    rows, total, short = [["a", "b", "c"]], Decimal(0), 0
    for n in range(40_000):
        value = rng.randint(-999, 999)
        total += value
        if n % 37 == 0:
            rows.append([str(value), "1"])  # short: its first cell still counts
            short += 1
        elif n % 41 == 0:
            rows.append([str(value), "1", "2", "3"])  # long
        else:
            rows.append([str(value), "1", "2"])
    data = csv_bytes(rows)
    for _ in range(10):
        result = sums(data, **EVERY)
        assert Decimal(result["columns"]["1"]) == total
        assert (result["rows"], result["skipped"]["short_rows"]) == (40_000, short)
