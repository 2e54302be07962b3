"""Corpus readers: every input record becomes exactly one Document or one Rejected, never an exception."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import InputConfig
from pipeline.documents import Document, Rejected
from pipeline.errors import InputError
from pipeline.io.readers import MAX_ID_CHARS, check_inputs, content_id, parse_timestamp, read_corpus

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


def test_over_size_document_is_rejected_not_truncated(tmp_path):
    cfg = dataclasses.replace(CFG, max_doc_chars=10)
    path = jsonl(tmp_path, [{"id": "ok", "text": "x" * 10}, {"id": "big", "text": "x" * 11}])
    items = read(path, cfg)
    assert kinds(items) == [("doc", 1, "ok", None), ("rej", 2, "big", "TooLong")]
    assert "input.max_doc_chars" in items[1].failure.message
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
