"""Corpus readers: every input record becomes exactly one Document or one Rejected, never an exception."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import InputConfig
from pipeline.documents import Document, Rejected
from pipeline.errors import InputError
from pipeline.io.readers import MAX_ID_CHARS, RecordError, check_inputs, content_id, parse_timestamp, read_corpus

CFG = InputConfig()


def read(path: Path, cfg: InputConfig = CFG) -> list[Document | Rejected]:
    return list(read_corpus([path], cfg))


def jsonl(tmp_path: Path, lines: list, name: str = "in.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines), encoding="utf-8")
    return path


def only_rejected(items) -> Rejected:
    assert len(items) == 1 and isinstance(items[0], Rejected), items
    return items[0]


def only_doc(items) -> Document:
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0]


def kinds(items) -> list[tuple]:
    """(kind, line, doc_id, error_type) per item, for compact assertions."""
    out = []
    for item in items:
        if isinstance(item, Document):
            out.append(("doc", item.line, item.doc_id, None))
        else:
            out.append(("rej", item.line, item.doc_id, item.failure.error_type))
    return out


# --- JSONL -------------------------------------------------------------------------------------


def test_jsonl_good_record_all_fields(tmp_path):
    path = jsonl(tmp_path, [{"id": "a1", "text": "Plain body text.", "title": "T", "url": "https://x.example/1",
                             "published_at": "2024-03-01T12:00:00Z", "outlet": "Example News"}])
    doc = only_doc(read(path))
    assert (doc.doc_id, doc.source, doc.line, doc.raw) == ("a1", str(path), 1, "Plain body text.")
    assert (doc.title, doc.url, doc.outlet) == ("T", "https://x.example/1", "Example News")
    assert doc.published_at == "2024-03-01T12:00:00+00:00"
    assert doc.is_html is False and doc.duplicate_of is None


def test_jsonl_html_body_is_detected(tmp_path):
    doc = only_doc(read(jsonl(tmp_path, [{"id": "h", "text": "  <html><body><p>Hi there</p></body></html>"}])))
    assert doc.is_html is True


def test_jsonl_invalid_json_line_loses_only_that_line(tmp_path):
    path = jsonl(tmp_path, [{"id": "a", "text": "first"}, '{"id": "b", "text": ', {"id": "c", "text": "third"}])
    items = read(path)
    assert kinds(items) == [("doc", 1, "a", None), ("rej", 2, None, "InvalidJSON"), ("doc", 3, "c", None)]
    assert items[1].failure.stage == "read"
    assert items[1].source == str(path)


@pytest.mark.parametrize("line, type_name", [("[1, 2]", "list"), ('"just a string"', "str"), ("42", "int"), ("null", "NoneType")])
def test_jsonl_non_object(tmp_path, line, type_name):
    rej = only_rejected(read(jsonl(tmp_path, [line])))
    assert (rej.line, rej.failure.stage, rej.failure.error_type) == (1, "validate", "InvalidRecord")
    assert type_name in rej.failure.message


def test_jsonl_missing_text(tmp_path):
    rej = only_rejected(read(jsonl(tmp_path, [{"id": "x", "title": "no body"}])))
    assert (rej.doc_id, rej.failure.stage, rej.failure.error_type) == ("x", "validate", "MissingText")
    assert "'text'" in rej.failure.message


@pytest.mark.parametrize("text", ["", "   ", "\n\t \u00a0 "])
def test_jsonl_empty_or_whitespace_text(tmp_path, text):
    rej = only_rejected(read(jsonl(tmp_path, [{"id": "e", "text": text}])))
    assert (rej.doc_id, rej.failure.error_type) == ("e", "EmptyText")


@pytest.mark.parametrize(
    "record, field",
    [
        ({"id": "n", "text": 123}, "text"),
        ({"id": "n", "text": ["a", "b"]}, "text"),
        ({"id": ["a"], "text": "body"}, "id"),
        ({"id": True, "text": "body"}, "id"),
        ({"id": 1.5, "text": "body"}, "id"),
        ({"id": "n", "text": "body", "title": 7}, "title"),
        ({"id": "n", "text": "body", "url": {"u": 1}}, "url"),
        ({"id": "n", "text": "body", "outlet": 3}, "outlet"),
        ({"id": "n", "text": "body", "published_at": 1700000000}, None),
    ],
)
def test_jsonl_wrong_types(tmp_path, record, field):
    rej = only_rejected(read(jsonl(tmp_path, [record])))
    assert (rej.line, rej.failure.stage, rej.failure.error_type) == (1, "validate", "WrongType")
    if field:
        assert repr(field) in rej.failure.message


def test_jsonl_integer_id_becomes_string(tmp_path):
    doc = only_doc(read(jsonl(tmp_path, [{"id": 17, "text": "body"}])))
    assert doc.doc_id == "17"


def test_jsonl_undecodable_bytes_lose_one_record(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "a", "text": "fine"}\n{"id": "b", "text": "caf\xe9 \xff"}\n{"id": "c", "text": "also fine"}\n')
    items = read(path)
    assert kinds(items) == [("doc", 1, "a", None), ("rej", 2, None, "UndecodableBytes"), ("doc", 3, "c", None)]
    assert items[1].failure.stage == "read"


def test_jsonl_escaped_lone_surrogate_is_rejected(tmp_path):
    # Valid JSON, but "\udcff" cannot be written as UTF-8 anywhere downstream.
    rej = only_rejected(read(jsonl(tmp_path, ['{"id": "s", "text": "bad \\udcff here"}'])))
    assert rej.failure.error_type == "UndecodableBytes"


def test_jsonl_blank_lines_are_skipped_and_line_numbers_kept(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('\n{"id": "a", "text": "x"}\n   \n{"id": "b", "text": "y"}\n', encoding="utf-8")
    assert kinds(read(path)) == [("doc", 2, "a", None), ("doc", 4, "b", None)]


def test_over_size_raw_input_is_rejected_not_truncated(tmp_path):
    cfg = dataclasses.replace(CFG, max_raw_chars=10)
    path = jsonl(tmp_path, [{"id": "ok", "text": "x" * 10}, {"id": "big", "text": "x" * 11}])
    items = read(path, cfg)
    assert kinds(items) == [("doc", 1, "ok", None), ("rej", 2, "big", "TooLong")]
    assert "input.max_raw_chars" in items[1].failure.message
    assert len(items[0].raw) == 10


def test_over_long_id_is_rejected(tmp_path):
    path = jsonl(tmp_path, [{"id": "i" * MAX_ID_CHARS, "text": "a"}, {"id": "j" * (MAX_ID_CHARS + 1), "text": "b"}])
    items = read(path)
    assert [k[0] for k in kinds(items)] == ["doc", "rej"]
    assert items[1].failure.error_type == "InvalidId"


def test_optional_fields_are_truncated_to_max_field_chars(tmp_path):
    cfg = dataclasses.replace(CFG, max_field_chars=5)
    doc = only_doc(read(jsonl(tmp_path, [{"id": "t", "text": "body", "title": "abcdefgh", "outlet": ""}]), cfg))
    assert doc.title == "abcde"
    assert doc.outlet is None  # empty string -> null


def test_duplicate_id_rejected_and_first_kept(tmp_path):
    path = jsonl(tmp_path, [{"id": "d", "text": "first"}, {"id": "d", "text": "second"}, {"id": "e", "text": "third"}])
    items = read(path)
    assert kinds(items) == [("doc", 1, "d", None), ("rej", 2, "d", "DuplicateId"), ("doc", 3, "e", None)]
    assert items[0].raw == "first"
    assert items[1].failure.stage == "validate"


def test_duplicate_id_across_files(tmp_path):
    a = jsonl(tmp_path, [{"id": "d", "text": "first"}], "a.jsonl")
    b = jsonl(tmp_path, [{"id": "d", "text": "second"}], "b.jsonl")
    items = list(read_corpus([a, b], CFG))
    assert kinds(items) == [("doc", 1, "d", None), ("rej", 1, "d", "DuplicateId")]
    assert items[1].source == str(b)


def test_integer_and_string_ids_collide(tmp_path):
    items = read(jsonl(tmp_path, [{"id": 5, "text": "first"}, {"id": "5", "text": "second"}]))
    assert kinds(items) == [("doc", 1, "5", None), ("rej", 2, "5", "DuplicateId")]


@pytest.mark.parametrize("value", ["not a date", "2024-02-30", "2024-13-01", "  "])
def test_unparseable_date(tmp_path, value):
    rej = only_rejected(read(jsonl(tmp_path, [{"id": "d", "text": "body", "published_at": value}])))
    assert (rej.doc_id, rej.failure.stage, rej.failure.error_type) == ("d", "validate", "InvalidDate")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-03-01T12:00:00+02:00", "2024-03-01T10:00:00+00:00"),
        ("2024-03-01T01:30:00-05:00", "2024-03-01T06:30:00+00:00"),
        ("2024-03-01T12:00:00Z", "2024-03-01T12:00:00+00:00"),
        ("2024-03-01 12:00", "2024-03-01T12:00:00+00:00"),  # naive: taken as UTC
        ("2024-03-01", "2024-03-01T00:00:00+00:00"),
        ("Fri, 01 Mar 2024 12:00:00 +0100", "2024-03-01T11:00:00+00:00"),
        (dt.datetime(2024, 3, 1, 12, 0), "2024-03-01T12:00:00+00:00"),
        (dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3))), "2024-03-01T09:00:00+00:00"),
        (None, None),
        ("", None),
    ],
)
def test_parse_timestamp_normalises_to_utc(value, expected):
    assert parse_timestamp(value) == expected


def test_dates_in_records_normalised(tmp_path):
    path = jsonl(tmp_path, [{"id": "a", "text": "x", "published_at": "2024-01-01T00:30:00+01:00"},
                            {"id": "b", "text": "y", "published_at": "2024-01-01T00:30:00"}])
    assert [d.published_at for d in read(path)] == ["2023-12-31T23:30:00+00:00", "2024-01-01T00:30:00+00:00"]


def test_derived_content_id_is_stable_and_content_dependent(tmp_path):
    path = jsonl(tmp_path, [{"text": "alpha body"}, {"text": "beta body"}, {"id": "", "text": "gamma body"}])
    first = read(path)
    second = read(path)
    ids = [d.doc_id for d in first]
    assert ids == [d.doc_id for d in second]
    assert ids == [content_id("alpha body"), content_id("beta body"), content_id("gamma body")]
    assert len(set(ids)) == 3
    assert all(i.startswith("sha256-") and len(i) == len("sha256-") + 24 for i in ids)
    assert content_id("alpha body") == content_id("alpha body") != content_id("alpha body.")


def test_exact_duplicate_content_flagged(tmp_path):
    path = jsonl(tmp_path, [
        {"id": "a", "text": "Same   story\nhere."},
        {"id": "b", "text": "Other story."},
        {"id": "c", "text": " Same story here. "},  # same after whitespace collapsing
        {"id": "d", "text": "Same story here!"},
    ])
    items = read(path)
    assert [(d.doc_id, d.duplicate_of) for d in items] == [("a", None), ("b", None), ("c", "a"), ("d", None)]


def test_same_content_without_ids_is_flagged_by_content_id(tmp_path):
    # Without ids, identical content derives the same id: the second record is rejected as a duplicate id.
    items = read(jsonl(tmp_path, [{"text": "twin"}, {"text": "twin"}]))
    assert kinds(items) == [("doc", 1, content_id("twin"), None), ("rej", 2, content_id("twin"), "DuplicateId")]


def test_field_mapping(tmp_path):
    cfg = dataclasses.replace(CFG, text_field="body", title_field="headline", id_field="uid", url_field="link",
                              date_field="date", outlet_field="source_name")
    path = jsonl(tmp_path, [{"uid": "m1", "body": "mapped body", "headline": "H", "link": "https://l",
                             "date": "2024-05-05T05:05:05+00:00", "source_name": "Paper",
                             "text": "ignored", "title": "ignored", "id": "ignored"}])
    doc = only_doc(read(path, cfg))
    assert (doc.doc_id, doc.raw, doc.title, doc.url, doc.published_at, doc.outlet) == (
        "m1", "mapped body", "H", "https://l", "2024-05-05T05:05:05+00:00", "Paper")


def test_field_mapping_missing_mapped_text(tmp_path):
    cfg = dataclasses.replace(CFG, text_field="body")
    rej = only_rejected(read(jsonl(tmp_path, [{"id": "x", "text": "not the configured field"}]), cfg))
    assert rej.failure.error_type == "MissingText"
    assert "'body'" in rej.failure.message


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_records_and_line_numbers(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text,title\nc1,first body,T1\nc2,second body,\n", encoding="utf-8")
    items = read(path)
    assert kinds(items) == [("doc", 2, "c1", None), ("doc", 3, "c2", None)]
    assert items[0].title == "T1" and items[1].title is None


def test_csv_quoted_newlines_keep_line_numbers_right(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b'id,text\n1,"multi\nline\nbody"\n2,"x"y"\n3,plain\n4,a,b\n5,"two\nlines"\n6,last\n')
    items = read(path)
    assert kinds(items) == [
        ("doc", 2, "1", None),  # lines 2-4
        ("rej", 5, None, "InvalidCSVRow"),  # bad quoting
        ("doc", 6, "3", None),
        ("rej", 7, None, "InvalidCSVRow"),  # 3 fields
        ("doc", 8, "5", None),  # lines 8-9
        ("doc", 10, "6", None),
    ]
    assert items[0].raw == "multi\nline\nbody"


def test_csv_wrong_field_count(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text\nonly-one-field\nok,body\nx,y,z\n", encoding="utf-8")
    items = read(path)
    assert kinds(items) == [("rej", 2, None, "InvalidCSVRow"), ("doc", 3, "ok", None), ("rej", 4, None, "InvalidCSVRow")]
    assert items[0].failure.message == "1 fields; the header has 2"
    assert items[0].failure.stage == "read"


def test_csv_undecodable_bytes_lose_one_record(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"id,text\na,good one\nb,bad \xff\xfe bytes\nc,good two\n")
    items = read(path)
    assert kinds(items) == [("doc", 2, "a", None), ("rej", 3, "b", "UndecodableBytes"), ("doc", 4, "c", None)]


def test_csv_undecodable_title_rejects_the_record(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"id,text,title\na,body,bad \xff\n")
    rej = only_rejected(read(path))
    assert rej.failure.error_type == "UndecodableBytes" and "'title'" in rej.failure.message


def test_csv_undecodable_id_gives_a_writable_rejection(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"id,text\nab\xff,body\n")
    rej = only_rejected(read(path))
    assert rej.failure.error_type == "UndecodableBytes"
    assert rej.doc_id is None or rej.doc_id.encode("utf-8")


def test_csv_long_document_within_max_doc_chars(tmp_path):
    path = tmp_path / "in.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        writer.writerow(["long", "word " * 40_000])  # 200,000 characters
    doc = only_doc(read(path))
    assert len(doc.raw) == 200_000


def test_csv_empty_text_and_missing_column(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text\na,\nb,   \n", encoding="utf-8")
    assert kinds(read(path)) == [("rej", 2, "a", "EmptyText"), ("rej", 3, "b", "EmptyText")]
    path2 = tmp_path / "notext.csv"
    path2.write_text("id,body\na,something\n", encoding="utf-8")
    assert kinds(read(path2)) == [("rej", 2, "a", "MissingText")]


def test_csv_empty_id_gets_content_id(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text\n,body text\n", encoding="utf-8")
    assert only_doc(read(path)).doc_id == content_id("body text")


def test_csv_empty_file_yields_nothing(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("", encoding="utf-8")
    assert read(path) == []


def test_csv_with_byte_order_mark(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes("text,id\nhello there,1\n".encode("utf-8-sig"))
    assert kinds(read(path)) == [("doc", 2, "1", None)]


def test_jsonl_with_byte_order_mark(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes('{"id": "1", "text": "hello"}\n'.encode("utf-8-sig"))
    assert kinds(read(path)) == [("doc", 1, "1", None)]


# --- Parquet -----------------------------------------------------------------------------------


def test_parquet_input(tmp_path):
    path = tmp_path / "in.parquet"
    table = pa.table({
        "id": ["p1", "p2"],
        "text": ["first parquet body", "second parquet body"],
        "title": ["T", None],
        "published_at": pa.array([dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc), None], pa.timestamp("us", tz="UTC")),
    })
    pq.write_table(table, path)
    items = read(path)
    assert kinds(items) == [("doc", 1, "p1", None), ("doc", 2, "p2", None)]
    assert items[0].published_at == "2024-01-01T12:00:00+00:00" and items[1].published_at is None
    assert (items[0].title, items[1].title) == ("T", None)


def test_parquet_naive_timestamp_column_is_utc(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": ["x"], "published_at": pa.array([dt.datetime(2024, 6, 1, 8)], pa.timestamp("us"))}), path)
    assert only_doc(read(path)).published_at == "2024-06-01T08:00:00+00:00"


def test_parquet_wrong_typed_column(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": pa.array([1, 2], pa.int64())}), path)
    items = read(path)
    assert kinds(items) == [("rej", 1, "a", "WrongType"), ("rej", 2, "b", "WrongType")]
    assert "'text'" in items[0].failure.message


def test_parquet_integer_ids_and_wrong_typed_title(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": [10, 11], "text": ["a", "b"], "title": pa.array([None, 3.5])}), path)
    items = read(path)
    assert kinds(items) == [("doc", 1, "10", None), ("rej", 2, None, "WrongType")]


def test_corrupt_parquet_is_one_rejection(tmp_path):
    path = tmp_path / "in.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    rej = only_rejected(read(path))
    assert rej.source == str(path) and rej.line is None and rej.failure.stage == "read"


def test_parquet_date_column(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": ["x"], "published_at": pa.array([dt.date(2024, 1, 2)])}), path)
    assert only_doc(read(path)).published_at == "2024-01-02T00:00:00+00:00"


# --- folders and single files -----------------------------------------------------------------


def test_folder_of_files(tmp_path):
    root = tmp_path / "corpus"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("Plain text article.", encoding="utf-8")
    (root / "sub" / "b.html").write_text("<html><body><p>Story</p></body></html>", encoding="utf-8")
    (root / "c.HTM").write_text("<p>upper-case suffix</p>", encoding="utf-8")
    (root / "d.pdf").write_bytes(b"%PDF-1.4")
    (root / "e.txt").write_text("  \n ", encoding="utf-8")
    (root / "f.txt").write_bytes(b"bad \xff bytes")
    (root / ".hidden.txt").write_text("secret", encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "x.txt").write_text("inside a hidden folder", encoding="utf-8")
    items = read(root)
    assert kinds(items) == [
        ("doc", None, "a.txt", None),
        ("doc", None, "c.HTM", None),
        ("rej", None, None, "UnsupportedFile"),
        ("rej", None, "e.txt", "EmptyText"),
        ("rej", None, "f.txt", "UndecodableBytes"),
        ("doc", None, "sub/b.html", None),
    ]
    by_id = {i.doc_id: i for i in items if isinstance(i, Document)}
    assert by_id["a.txt"].is_html is False and by_id["a.txt"].raw == "Plain text article."
    assert by_id["sub/b.html"].is_html is True and by_id["c.HTM"].is_html is True
    assert by_id["sub/b.html"].source == str(root / "sub" / "b.html")
    assert items[2].source == str(root / "d.pdf")


def test_single_text_file_and_unsupported_file(tmp_path):
    txt = tmp_path / "one.txt"
    txt.write_text("<p>not html because of the suffix</p>", encoding="utf-8")
    doc = only_doc(read(txt))
    assert (doc.doc_id, doc.is_html) == ("one.txt", False)
    other = tmp_path / "data.xml"
    other.write_text("<x/>", encoding="utf-8")
    rej = only_rejected(read(other))
    assert (rej.failure.error_type, rej.doc_id) == ("UnsupportedFile", None)


def test_folder_duplicate_content_flagged(tmp_path):
    (tmp_path / "a.txt").write_text("Identical body.", encoding="utf-8")
    (tmp_path / "b.txt").write_text("Identical   body.\n", encoding="utf-8")
    items = read(tmp_path)
    assert [(i.doc_id, i.duplicate_of) for i in items] == [("a.txt", None), ("b.txt", "a.txt")]


def test_check_inputs(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text("", encoding="utf-8")
    assert check_inputs([str(f)]) == [f.resolve()]
    with pytest.raises(InputError, match="input not found"):
        check_inputs([str(f), str(tmp_path / "missing.jsonl")])
    with pytest.raises(InputError, match="no input"):
        check_inputs([])


def test_order_is_deterministic_across_inputs(tmp_path):
    a = jsonl(tmp_path, [{"id": "1", "text": "a"}, {"id": "2", "text": "b"}], "a.jsonl")
    b = tmp_path / "b.csv"
    b.write_text("id,text\n3,c\n", encoding="utf-8")
    assert [i.doc_id for i in read_corpus([b, a], CFG)] == ["3", "1", "2"]


# --- one bad record costs that record only -----------------------------------------------------


def test_records_that_make_parsers_raise_lose_only_themselves(tmp_path):
    # Each bad line raised out of the reader before (RecursionError, ValueError, OverflowError)
    # and the rest of the file was gone: 8 lines gave 1 document and 1 failure.
    path = jsonl(tmp_path, [
        {"id": "a", "text": "one"},
        "[" * 100_000 + "]" * 100_000,
        {"id": "b", "text": "two"},
        '{"id": ' + "7" * 5000 + ', "text": "huge id"}',
        {"id": "c", "text": "three"},
        {"id": "d", "text": "four", "published_at": "9999-12-31T23:00-05:00"},
        {"id": "e", "text": "five"},
        {"id": "f", "text": "six"},
    ])
    assert kinds(read(path)) == [
        ("doc", 1, "a", None), ("rej", 2, None, "InvalidJSON"), ("doc", 3, "b", None), ("rej", 4, None, "InvalidJSON"),
        ("doc", 5, "c", None), ("rej", 6, "d", "InvalidDate"), ("doc", 7, "e", None), ("doc", 8, "f", None),
    ]


def test_large_integer_ids_are_invalid_ids_not_crashes(tmp_path):
    # 4,000 digits parse as JSON but cannot be formatted by str() without raising.
    path = jsonl(tmp_path, ['{"id": ' + "9" * 4000 + ', "text": "x"}', '{"id": ' + "9" * 300 + ', "text": "y"}', {"id": 1, "text": "z"}])
    assert kinds(read(path)) == [("rej", 1, None, "InvalidId"), ("rej", 2, None, "InvalidId"), ("doc", 3, "1", None)]


def test_csv_date_out_of_range_loses_only_its_row(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text,published_at\na,one,2024-01-01\nb,two,9999-12-31T23:00-05:00\nc,three,0001-01-01T01:00+05:00\nd,four,\n", encoding="utf-8")
    assert kinds(read(path)) == [("doc", 2, "a", None), ("rej", 3, "b", "InvalidDate"), ("rej", 4, "c", "InvalidDate"), ("doc", 5, "d", None)]


def test_parquet_unconvertible_timestamp_loses_only_its_row(tmp_path):
    # Seen from +05:00, the last microsecond Python can hold in UTC is in year 10000: pyarrow
    # cannot convert that value, and converting the batch at once fails for all its rows.
    last = int((dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone.utc) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds() * 1e6)
    stamps = pa.array([0, last, 86_400_000_000], pa.timestamp("us", tz="+05:00"))
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": ["x", "y", "z"], "published_at": stamps}), path)
    items = read(path)
    assert kinds(items) == [("doc", 1, "a", None), ("rej", 2, None, "InvalidDate"), ("doc", 3, "c", None)]
    assert items[2].published_at == "1970-01-02T00:00:00+00:00"


def test_parquet_columns_that_are_not_read_cannot_cost_a_record(tmp_path):
    last = int((dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone.utc) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds() * 1e6)
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": ["x"], "other": pa.array([last], pa.timestamp("us", tz="+05:00"))}), path)
    assert kinds(read(path)) == [("doc", 1, "a", None)]


# --- dates: one documented rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-03-01 12:00 EST", "2024-03-01T17:00:00+00:00"),
        ("2024-03-01T12:00:00 CEST", "2024-03-01T10:00:00+00:00"),
        ("Fri, 01 Mar 2024 12:00:00 GMT", "2024-03-01T12:00:00+00:00"),
        ("Fri, 01 Mar 2024 12:00:00 +0100 (CET)", "2024-03-01T11:00:00+00:00"),
        ("2024-03-01 12:00 UTC+3", "2024-03-01T09:00:00+00:00"),  # three hours ahead, not POSIX's reverse
        ("2024-03-01 12:00 GMT -2", "2024-03-01T14:00:00+00:00"),
        ("2024-03-01 12:00 MSK", "2024-03-01T09:00:00+00:00"),
        ("March 1, 2024", "2024-03-01T00:00:00+00:00"),
        ("01/02/2024", "2024-01-02T00:00:00+00:00"),  # month first
        ("20240301", "2024-03-01T00:00:00+00:00"),
        (dt.date(2024, 3, 1), "2024-03-01T00:00:00+00:00"),
    ],
)
def test_dates_by_the_documented_rule(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "12",  # was the 12th of the current month
        "12:00 EST",  # was today at 12:00, zone dropped
        "March 2024", "Tuesday", "2024",
        "2024-03-01 12:00 XYZ",  # an unknown zone was dropped (taken as UTC)
        "2024-03-01 12:00 IST",  # India, Ireland or Israel: not guessed
        "2024-03-01 12:00 EST+3",  # name and offset disagree
        "9999-12-31T23:00-05:00", "0001-01-01T00:30+01:00",  # outside years 1-9999 in UTC
        "99999999999999999999",
    ],
)
def test_dates_outside_the_rule_are_invalid(value):
    with pytest.raises(RecordError) as info:
        parse_timestamp(value)
    assert info.value.kind == "InvalidDate"


def test_datetime_value_out_of_range_in_utc_is_invalid():
    with pytest.raises(RecordError, match="outside years"):
        parse_timestamp(dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-5))))


# --- duplicate columns -------------------------------------------------------------------------


def test_csv_duplicate_column_of_a_read_field_is_refused(tmp_path):
    # Two text columns: the last used to win silently.
    path = tmp_path / "in.csv"
    path.write_text("id,text,title,text\na,first,T,second\n", encoding="utf-8")
    rej = only_rejected(read(path))
    assert (rej.line, rej.failure.stage, rej.failure.error_type) == (None, "read", "DuplicateColumn")
    assert "'text'" in rej.failure.message and "columns 2, 4" in rej.failure.message


def test_csv_duplicate_column_that_is_not_read_is_harmless(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text,,\na,body,x,y\n", encoding="utf-8")
    assert kinds(read(path)) == [("doc", 2, "a", None)]


def test_parquet_duplicate_column_of_a_read_field_is_refused(tmp_path):
    path = tmp_path / "in.parquet"
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["x"]), pa.array(["T1"]), pa.array(["T2"])], names=["id", "text", "title", "title"])
    pq.write_table(table, path)
    rej = only_rejected(read(path))
    assert rej.failure.error_type == "DuplicateColumn" and "'title'" in rej.failure.message


# --- links, pipes and unreadable entries in folders --------------------------------------------


def fates(items) -> list[tuple]:
    """(name, error_type or None) per item: what happened to each folder entry."""
    return [(Path(i.source).name, i.failure.error_type if isinstance(i, Rejected) else None) for i in items]


def test_link_leaving_the_folder_is_refused(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash", encoding="utf-8")
    (root / "a.txt").write_text("Plain article.", encoding="utf-8")
    (root / "b.txt").symlink_to(secret)
    (root / "c.txt").symlink_to("../secret.txt")
    (root / "d.txt").symlink_to("/etc/passwd")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.txt").write_text("outside folder file", encoding="utf-8")
    (root / "e").symlink_to(tmp_path / "elsewhere")
    items = read(root)
    assert fates(items) == [("a.txt", None), ("b.txt", "LinkOutsideInput"), ("c.txt", "LinkOutsideInput"),
                            ("d.txt", "LinkOutsideInput"), ("e", "LinkOutsideInput")]
    assert "secret.txt" in items[1].failure.message and items[1].doc_id is None
    assert not any(isinstance(i, Document) and "root:" in i.raw for i in items)


def test_links_leaving_the_folder_are_followed_on_request(tmp_path):
    root = tmp_path / "corpus"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("Outside text.", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.html").write_text("<p>Outside page</p>", encoding="utf-8")
    (root / "b.txt").symlink_to(tmp_path / "secret.txt")
    (root / "e").symlink_to(tmp_path / "elsewhere")
    items = list(read_corpus([root], dataclasses.replace(CFG, follow_links=True)))
    assert kinds(items) == [("doc", None, "b.txt", None), ("doc", None, "e/x.html", None)]
    assert items[0].raw == "Outside text." and items[0].source == str(root / "b.txt")
    assert items[1].is_html is True and items[1].source == str(root / "e" / "x.html")


def test_links_inside_the_folder_are_followed(tmp_path):
    (tmp_path / "a.txt").write_text("Same story.", encoding="utf-8")
    (tmp_path / "b.txt").symlink_to("a.txt")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("Another story.", encoding="utf-8")
    (tmp_path / "z").symlink_to("sub")
    items = read(tmp_path)
    assert [(i.doc_id, i.duplicate_of) for i in items] == [("a.txt", None), ("b.txt", "a.txt"), ("sub/c.txt", None), ("z/c.txt", "sub/c.txt")]


@pytest.mark.parametrize("follow_links", [False, True])
def test_dangling_links_loops_and_pipes_each_get_a_row(tmp_path, follow_links):
    # All of these used to be skipped without a trace.
    (tmp_path / "a.txt").write_text("Readable.", encoding="utf-8")
    (tmp_path / "b.txt").symlink_to(tmp_path / "missing.txt")
    (tmp_path / "c.txt").symlink_to("d.txt")
    (tmp_path / "d.txt").symlink_to("c.txt")
    os.mkfifo(tmp_path / "e.txt")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "up").symlink_to("..")
    (tmp_path / "g.txt").write_text("Still read.", encoding="utf-8")
    items = list(read_corpus([tmp_path], dataclasses.replace(CFG, follow_links=follow_links)))
    assert fates(items) == [("a.txt", None), ("b.txt", "BrokenLink"), ("c.txt", "LinkLoop"), ("d.txt", "LinkLoop"),
                            ("e.txt", "NotARegularFile"), ("up", "LinkLoop"), ("g.txt", None)]
    assert "named pipe" in items[4].failure.message


def test_socket_in_a_folder_gets_a_row(tmp_path):
    import socket

    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "s.txt"))
    except OSError:
        pytest.skip("cannot create a unix socket here")
    try:
        assert fates(read(tmp_path)) == [("s.txt", "NotARegularFile")]
    finally:
        server.close()


def test_unreadable_file_in_a_folder_is_a_row_and_the_folder_goes_on(tmp_path):
    # /proc/self/mem is a regular file whose first bytes cannot be read, even by root (where
    # chmod 000 would not stop a read): a real I/O error, reached through a followed link.
    mem = Path("/proc/self/mem")
    if not mem.exists():
        pytest.skip("needs Linux /proc")
    (tmp_path / "a.txt").write_text("Before.", encoding="utf-8")
    (tmp_path / "b.txt").symlink_to(mem)
    (tmp_path / "c.html").symlink_to(mem)
    (tmp_path / "d.txt").write_text("After.", encoding="utf-8")
    items = list(read_corpus([tmp_path], dataclasses.replace(CFG, follow_links=True)))
    assert fates(items) == [("a.txt", None), ("b.txt", "UnreadableFile"), ("c.html", "UnreadableFile"), ("d.txt", None)]
    assert items[1].doc_id == "b.txt" and "Input/output error" in items[1].failure.message


def test_unreadable_record_file_is_one_row(tmp_path):
    mem = Path("/proc/self/mem")
    if not mem.exists():
        pytest.skip("needs Linux /proc")
    (tmp_path / "in.jsonl").symlink_to(mem)
    rej = only_rejected(read(tmp_path / "in.jsonl"))
    assert (rej.line, rej.failure.error_type) == (None, "UnreadableFile")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode (see the /proc/self/mem tests)")
def test_permission_denied_file_and_folder_are_rows(tmp_path):
    (tmp_path / "a.txt").write_text("Secret.", encoding="utf-8")
    (tmp_path / "a.txt").chmod(0)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.txt").write_text("Hidden.", encoding="utf-8")
    (tmp_path / "b").chmod(0)
    (tmp_path / "c.txt").write_text("Readable.", encoding="utf-8")
    try:
        assert fates(read(tmp_path)) == [("a.txt", "UnreadableFile"), ("b", "UnreadableFile"), ("c.txt", None)]
    finally:
        (tmp_path / "b").chmod(0o755)


def test_undecodable_file_name_is_a_row_that_can_be_written(tmp_path):
    with open(os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt"), "wb") as fh:
        fh.write(b"Body.")
    (tmp_path / "z.txt").write_text("Fine.", encoding="utf-8")
    items = read(tmp_path)
    assert kinds(items) == [("rej", None, None, "UndecodableBytes"), ("doc", None, "z.txt", None)]
    assert items[0].source.encode("utf-8") and items[0].failure.message.encode("utf-8")


def read_with_timeout(paths, seconds=20):
    result = []
    thread = threading.Thread(target=lambda: result.extend(read_corpus(paths, CFG)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "reading blocked"
    return result


def test_named_pipe_as_input_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "feed.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"input is a named pipe, not a file or folder: .*feed\.jsonl$"):
        check_inputs([str(fifo)])
    # Called without check_inputs, the reader still refuses it instead of blocking.
    rej = only_rejected(read_with_timeout([fifo]))
    assert rej.failure.error_type == "NotARegularFile" and "named pipe" in rej.failure.message


def test_named_pipe_in_a_folder_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "x.txt")
    assert fates(read_with_timeout([tmp_path])) == [("x.txt", "NotARegularFile")]


def test_check_inputs_refuses_devices(tmp_path):
    with pytest.raises(InputError, match="input is a device"):
        check_inputs(["/dev/null"])


def test_parquet_without_any_read_column_still_gives_a_row_per_record(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": ["a", "b"]}), path)
    assert kinds(read(path)) == [("rej", 1, None, "MissingText"), ("rej", 2, None, "MissingText")]
