"""Property: every record written yields exactly one Document or one Rejected, in order,
whatever its fields hold, and every row the reader makes can be written out."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import InputConfig
from pipeline.documents import Document, Rejected
from pipeline.io.readers import read_corpus

CFG = InputConfig()
FIELDS = ["id", "text", "title", "url", "published_at", "outlet"]
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Strings that have broken date parsing before, next to arbitrary text.
DATE_EDGES = ["9999-12-31T23:00-05:00", "0001-01-01T00:30+01:00", "12", "12:00 EST", "2024-03-01 12:00 XYZ",
              "2024-03-01 12:00 UTC+3", "Fri, 01 Mar 2024 12:00:00 GMT", "99999999999999999999", "2024-02-30", " "]
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
aware_datetimes = st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=offsets)
date_strings = st.one_of(st.sampled_from(DATE_EDGES), aware_datetimes.map(datetime.isoformat), st.datetimes().map(str), st.text(max_size=30))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40), date_strings)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)
records = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), json_values, max_size=8)


def _raw_huge_int(digits: int) -> str:
    return '{"id": ' + "7" * digits + ', "text": "huge id"}'


jsonl_lines = st.one_of(
    records.map(json.dumps),
    records.map(lambda r: json.dumps(r, ensure_ascii=False)),
    json_values.map(json.dumps),  # lists, numbers, strings, null at the top level
    st.text(max_size=60).filter(lambda s: "\n" not in s),
    st.binary(max_size=60).filter(lambda b: b"\n" not in b),
    st.integers(1, 200_000).map(lambda n: "[" * n + "]" * n),
    st.integers(4000, 6000).map(_raw_huge_int),
    st.just('{"id": "s", "text": "lone \\udcff surrogate"}'),
)


def is_record_line(raw: bytes, number: int) -> bool:
    """Only a blank line is not a record (a byte-order mark counts as blank on line 1)."""
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError:
        return True
    return bool(text.strip())


def check_items(items, source: Path, expected_lines: list[int | None]) -> None:
    assert [item.line for item in items] == expected_lines
    for item in items:
        assert isinstance(item, (Document, Rejected))
        assert item.source == str(source)
        # The row must survive being written: valid UTF-8 all through.
        json.dumps(item.to_message(), ensure_ascii=False).encode("utf-8")
        if isinstance(item, Rejected):
            assert item.failure.error_type and item.failure.stage in ("read", "validate")
        elif item.published_at is not None:
            assert datetime.fromisoformat(item.published_at).utcoffset() == timedelta(0)


def signature(items) -> list[tuple]:
    return [(type(i).__name__, i.line, i.doc_id, i.failure.error_type if isinstance(i, Rejected) else i.published_at) for i in items]


@SETTINGS
@given(lines=st.lists(jsonl_lines, max_size=12))
def test_jsonl_every_line_is_one_document_or_one_failure(lines):
    raw_lines = [line if isinstance(line, bytes) else line.encode("utf-8") for line in lines]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.jsonl"
        path.write_bytes(b"".join(raw + b"\n" for raw in raw_lines))
        items = list(read_corpus([path], CFG))
        expected = [n for n, raw in enumerate(raw_lines, start=1) if is_record_line(raw, n)]
        check_items(items, path, expected)
        assert signature(list(read_corpus([path], CFG))) == signature(items)


csv_values = st.one_of(st.text(max_size=40), date_strings, st.integers().map(str), st.just(""))


@st.composite
def csv_tables(draw):
    extra = draw(st.lists(st.text(max_size=6).filter(lambda s: s not in FIELDS), max_size=3, unique=True))
    header = draw(st.permutations(draw(st.lists(st.sampled_from(FIELDS), min_size=1, unique=True)) + extra))
    width = len(header)
    rows = draw(st.lists(
        st.one_of(st.lists(csv_values, min_size=width, max_size=width), st.lists(csv_values, min_size=1, max_size=width + 2)),
        max_size=10,
    ))
    return header, rows


def csv_chunk(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(row)
    return out.getvalue()


def physical_lines(chunk: str) -> int:
    # As the reader's file object splits them (newline=""): \r\n, \r and \n end a line.
    return len(io.StringIO(chunk, newline="").readlines())


@SETTINGS
@given(table=csv_tables())
def test_csv_every_row_is_one_document_or_one_failure(table):
    header, rows = table
    chunks = [csv_chunk(header)] + [csv_chunk(row) for row in rows]
    expected, line = [], 1 + physical_lines(chunks[0])
    for chunk in chunks[1:]:
        expected.append(line)
        line += physical_lines(chunk)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_bytes("".join(chunks).encode("utf-8"))
        items = list(read_corpus([path], CFG))
        check_items(items, path, expected)
        assert signature(list(read_corpus([path], CFG))) == signature(items)


MICROS = st.integers(
    int((datetime.min.replace(tzinfo=timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1e6),
    int((datetime.max.replace(tzinfo=timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1e6),
)


@st.composite
def parquet_tables(draw):
    n = draw(st.integers(0, 8))
    column = lambda values: draw(st.lists(st.none() | values, min_size=n, max_size=n))  # noqa: E731
    zone = draw(st.sampled_from(["UTC", "+05:00", "-05:00", "+14:00", "-12:00"]))
    id_type = draw(st.sampled_from(["string", "int"]))
    return pa.table({
        "id": pa.array(column(st.text(max_size=8)), pa.string()) if id_type == "string" else pa.array(column(st.integers(-(2**63), 2**63 - 1)), pa.int64()),
        "text": pa.array(column(st.text(max_size=30)), pa.string()),
        "title": pa.array(column(st.text(max_size=10)), pa.string()),
        "published_at": pa.array(column(MICROS), pa.timestamp("us", tz=zone)),
        "other": pa.array(column(MICROS), pa.timestamp("us", tz="+14:00")),
    })


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=parquet_tables())
def test_parquet_every_row_is_one_document_or_one_failure(table):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.parquet"
        pq.write_table(table, path)
        items = list(read_corpus([path], CFG))
        check_items(items, path, list(range(1, table.num_rows + 1)))
