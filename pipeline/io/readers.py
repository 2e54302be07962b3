"""Corpus readers: files and folders in, `Document`s and `Rejected` records out.

Every input record ends up as exactly one of the two, in a deterministic order, so
that the producer cuts the same batches every time it reads the same input (which is
what makes resuming a job possible). Nothing here raises for a bad record; only an
input that cannot be read at all raises `InputError`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
from dateutil import parser as dateparser

from pipeline.config import InputConfig
from pipeline.documents import Document, Failure, Rejected
from pipeline.errors import InputError

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
TEXT_SUFFIXES = {".txt"}
HTML_SUFFIXES = {".html", ".htm"}
MAX_ID_CHARS = 256

_WHITESPACE = re.compile(r"\s+")


class RecordError(ValueError):
    """A record that cannot become a document; `kind` becomes the failure's error_type."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def content_id(text: str) -> str:
    """A stable id for a record without one: the same content always gets the same id."""
    return "sha256-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def content_key(text: str) -> str:
    """Key for exact-duplicate detection: content with whitespace runs collapsed."""
    return hashlib.sha256(_WHITESPACE.sub(" ", text).strip().encode("utf-8")).hexdigest()


def parse_timestamp(value) -> str | None:
    """ISO 8601 string in UTC for a date value; naive dates are taken to be UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):  # e.g. a Parquet date32 column
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = dateparser.parse(value)
        except (ValueError, OverflowError):
            raise RecordError("InvalidDate", f"cannot parse date {value[:80]!r}") from None
    else:
        raise RecordError("WrongType", f"date must be a string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat()


def _optional_str(record: dict, field: str, cfg: InputConfig) -> str | None:
    value = record.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError("WrongType", f"field {field!r} must be a string, got {type(value).__name__}")
    _check_decoded(value, field)
    return value[: cfg.max_field_chars] or None


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_decoded(value: str, field: str) -> None:
    # Files are decoded with surrogateescape so one bad byte sequence costs one record, not the file.
    if not _is_utf8(value):
        raise RecordError("UndecodableBytes", f"field {field!r} is not valid UTF-8")


def document_from_record(record, source: str, line: int | None, cfg: InputConfig, is_html: bool | None = None) -> Document:
    """Validates one mapping and builds a Document, or raises RecordError."""
    if not isinstance(record, dict):
        raise RecordError("InvalidRecord", f"expected an object, got {type(record).__name__}")
    text = record.get(cfg.text_field)
    if text is None:
        raise RecordError("MissingText", f"no {cfg.text_field!r} field")
    if not isinstance(text, str):
        raise RecordError("WrongType", f"field {cfg.text_field!r} must be a string, got {type(text).__name__}")
    _check_decoded(text, cfg.text_field)
    if not text.strip():
        raise RecordError("EmptyText", f"field {cfg.text_field!r} is empty")
    if len(text) > cfg.max_doc_chars:
        raise RecordError("TooLong", f"{len(text):,} characters; the limit is {cfg.max_doc_chars:,} (input.max_doc_chars)")

    raw_id = record.get(cfg.id_field)
    if raw_id is None or raw_id == "":
        doc_id = content_id(text)
    elif isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        raise RecordError("WrongType", f"field {cfg.id_field!r} must be a string or an integer, got {type(raw_id).__name__}")
    else:
        doc_id = str(raw_id)
        _check_decoded(doc_id, cfg.id_field)
        if len(doc_id) > MAX_ID_CHARS:
            raise RecordError("InvalidId", f"id is {len(doc_id)} characters; the limit is {MAX_ID_CHARS}")

    return Document(
        doc_id=doc_id,
        source=source,
        line=line,
        raw=text,
        is_html=_looks_like_html(text) if is_html is None else is_html,
        title=_optional_str(record, cfg.title_field, cfg),
        url=_optional_str(record, cfg.url_field, cfg),
        published_at=parse_timestamp(record.get(cfg.date_field)),
        outlet=_optional_str(record, cfg.outlet_field, cfg),
    )


_HTML_START = re.compile(r"^\s*(<!doctype html|<html|<body|<article|<div|<p[\s>])", re.IGNORECASE)


def _looks_like_html(text: str) -> bool:
    return bool(_HTML_START.match(text[:200]))


def _records_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    with path.open("rb") as fh:
        for number, raw_line in enumerate(fh, start=1):
            try:
                line = raw_line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield number, RecordError("UndecodableBytes", f"line is not valid UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, RecordError("InvalidJSON", f"invalid JSON: {exc.msg} at column {exc.colno}")


def allow_large_csv_fields() -> None:
    """Python's csv module refuses fields over 128 KiB by default; the document size limit is ours to apply."""
    csv.field_size_limit(2**31 - 1)


allow_large_csv_fields()


def _records_csv(path: Path) -> Iterator[tuple[int, object]]:
    # utf-8-sig: spreadsheet exports start with a byte-order mark that must not stick to the first header.
    with path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RecordError("InvalidCSV", f"cannot read the header: {exc}") from None
        line = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, RecordError("InvalidCSVRow", f"malformed CSV: {exc}")
                line = reader.line_num + 1
                continue
            if row and len(row) != len(header):
                yield line, RecordError("InvalidCSVRow", f"{len(row)} fields; the header has {len(header)}")
            elif row:
                yield line, dict(zip(header, row))
            line = reader.line_num + 1


def _records_parquet(path: Path) -> Iterator[tuple[int, object]]:
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            number += 1
            yield number, record


def _read_file_document(path: Path, root: Path, cfg: InputConfig) -> Document | Rejected:
    source = str(path)
    rel_id = path.relative_to(root).as_posix()
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(source, None, rel_id, Failure("read", "UndecodableBytes", f"file is not valid UTF-8 ({exc.reason} at byte {exc.start})"))
    if not text.strip():
        return Rejected(source, None, rel_id, Failure("read", "EmptyText", "the file is empty or only whitespace"))
    record = {cfg.text_field: text, cfg.id_field: rel_id}
    try:
        return document_from_record(record, source, None, cfg, is_html=path.suffix.lower() in HTML_SUFFIXES)
    except RecordError as exc:
        return Rejected(source, None, rel_id, Failure("read", exc.kind, str(exc)))


def _read_folder(root: Path, cfg: InputConfig) -> Iterator[Document | Rejected]:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        suffix = path.suffix.lower()
        if suffix in TEXT_SUFFIXES | HTML_SUFFIXES:
            yield _read_file_document(path, root, cfg)
        else:
            yield Rejected(str(path), None, None, Failure("read", "UnsupportedFile", f"not a .txt or .html file: {path.name}"))


def _read_records(path: Path, cfg: InputConfig) -> Iterator[Document | Rejected]:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        records = _records_jsonl(path)
    elif suffix in CSV_SUFFIXES:
        records = _records_csv(path)
    elif suffix in PARQUET_SUFFIXES:
        records = _records_parquet(path)
    else:
        yield _read_file_document(path, path.parent, cfg) if suffix in TEXT_SUFFIXES | HTML_SUFFIXES else Rejected(
            str(path), None, None, Failure("read", "UnsupportedFile", f"unknown input format: {path.name}")
        )
        return
    source = str(path)
    try:
        for line, record in records:
            if isinstance(record, RecordError):
                yield Rejected(source, line, None, Failure("read", record.kind, str(record)))
                continue
            try:
                yield document_from_record(record, source, line, cfg)
            except RecordError as exc:
                doc_id = record.get(cfg.id_field) if isinstance(record, dict) else None
                readable_id = doc_id if isinstance(doc_id, str) and _is_utf8(doc_id) else None
                yield Rejected(source, line, readable_id, Failure("validate", exc.kind, str(exc)))
    except RecordError as exc:  # the whole file is unreadable (e.g. a CSV without a usable header)
        yield Rejected(source, None, None, Failure("read", exc.kind, str(exc)))
    except OSError as exc:
        yield Rejected(source, None, None, Failure("read", type(exc).__name__, str(exc)))
    except Exception as exc:  # noqa: BLE001 - e.g. a corrupt Parquet file; recorded, the job goes on
        yield Rejected(source, None, None, Failure("read", type(exc).__name__, str(exc)[:500]))


def check_inputs(paths: list[str]) -> list[Path]:
    """Resolves the input paths, raising InputError when one does not exist."""
    if not paths:
        raise InputError("no input given")
    resolved = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise InputError(f"input not found: {p}")
        resolved.append(path.resolve())
    return resolved


def read_corpus(paths: list[Path], cfg: InputConfig) -> Iterator[Document | Rejected]:
    """All records of all inputs, in order; duplicate ids rejected, duplicate content flagged."""
    seen_ids: set[str] = set()
    first_with_content: dict[bytes, str] = {}
    for path in paths:
        items = _read_folder(path, cfg) if path.is_dir() else _read_records(path, cfg)
        for item in items:
            if isinstance(item, Rejected):
                yield item
                continue
            if item.doc_id in seen_ids:
                yield Rejected(item.source, item.line, item.doc_id, Failure("validate", "DuplicateId", f"id {item.doc_id!r} was already used by an earlier record"))
                continue
            seen_ids.add(item.doc_id)
            key = bytes.fromhex(content_key(item.raw))[:16]
            item.duplicate_of = first_with_content.setdefault(key, item.doc_id)
            if item.duplicate_of == item.doc_id:
                item.duplicate_of = None
            yield item
