"""Corpus readers: files and folders in, `Document`s and `Rejected` records out.

Every input record ends up as exactly one of the two, in a deterministic order, so
that the producer cuts the same batches every time it reads the same input (which is
what makes resuming a job possible). Nothing here raises for a bad record, whatever
exception its contents provoke: that record becomes one `Rejected` and reading goes
on with the next one. Only an input that cannot be read at all raises `InputError`
(`check_inputs`), and a file that cannot be opened or parsed as a whole is one
`Rejected` without a line number.

An input may also be an s3:// URL (pipeline.io.storage): one object, read by its suffix
like a local file, or a key prefix, whose objects are read in key order, each by its
suffix (JSONL, CSV and Parquet records, or one document per .txt / .html object, whose id
is its key below the prefix). Names starting with "." or "_" under a prefix are skipped
(markers such as `_SUCCESS`), and an object of another suffix is an `UnsupportedFile` row.

Folders are walked in name order. Hidden entries (a name starting with ".") are
skipped. Every other entry is read or gets a failure row: an unsupported suffix
(`UnsupportedFile`), a named pipe, socket or device (`NotARegularFile`), a file or
folder that cannot be opened (`UnreadableFile`), a dangling link (`BrokenLink`), a
link loop (`LinkLoop`), and a link whose target lies outside the input folder
(`LinkOutsideInput`) unless `input.follow_links` is set. A link
that stays inside the folder is followed (a linked folder is read again under the
link's name, so its files appear under both names, flagged as duplicate content).

Dates (`published_at`) are read by one rule; anything else is an `InvalidDate`:

1. ISO 8601 as Python's `datetime.fromisoformat` reads it (`2024-03-01`,
   `2024-03-01T12:00:00+02:00`, `2024-03-01 12:00`, `20240301`, a trailing `Z`).
2. Otherwise dateutil, only if the string gives a full year, month and day (so
   `12`, `March 2024` or `12:00 EST` are invalid, never completed from today's date).
   This covers RFC 2822 (`Fri, 01 Mar 2024 12:00:00 +0100`) and forms such as
   `March 1, 2024`. All-numeric dates with slashes are read month first (`01/02/2024`
   is 2 January); a two-digit year is placed within 50 years of the current year.
3. A zone is a numeric offset (`+01:00`, `-0500`, `+3`; `UTC+3` and `GMT+3` mean
   three hours ahead, not the POSIX reverse) or one of the upper-case names in
   `NAMED_ZONES` (US meanings: `CST` is US Central, not China). Any other zone name
   is an `InvalidDate`, never silently dropped. A name and an offset that disagree
   (`EST+3`) are an `InvalidDate`.
4. A date without a zone is UTC. The result is converted to UTC; a date that falls
   outside years 1-9999 in UTC (`9999-12-31T23:00-05:00`) is an `InvalidDate`.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import pyarrow.parquet as pq
from dateutil import parser as dateparser

from pipeline.config import InputConfig
from pipeline.documents import Document, Failure, Rejected
from pipeline.errors import MAX_ERROR_MESSAGE, InputError
from pipeline.io import storage

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
TEXT_SUFFIXES = {".txt"}
HTML_SUFFIXES = {".html", ".htm"}
MAX_ID_CHARS = 256

# Hours east of UTC. Deliberately small: names such as IST (India, Ireland, Israel) mean
# several zones, and a guessed zone is a silently wrong timestamp.
NAMED_ZONES = {
    "UTC": 0, "UT": 0, "GMT": 0, "Z": 0,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "BST": 1, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3, "MSK": 3,
}

_WHITESPACE = re.compile(r"\s+")
_LARGEST_INT_ID = 10**MAX_ID_CHARS


class RecordError(ValueError):
    """A record that cannot become a document; `kind` becomes the failure's error_type."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_MESSAGE]


def content_id(text: str) -> str:
    """A stable id for a record without one: the same content always gets the same id."""
    return "sha256-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def content_key(text: str) -> str:
    """Key for exact-duplicate detection: content with whitespace runs collapsed."""
    return hashlib.sha256(_WHITESPACE.sub(" ", text).strip().encode("utf-8")).hexdigest()


# dateutil reads "UTC+3" the POSIX way (three hours *behind*) and drops the offset of
# "UTC +3"; news means three hours ahead, so the name goes and the plain offset stays.
_UTC_PLUS_OFFSET = re.compile(r"(?<![A-Za-z])(?:UTC|GMT|UT)\s*(?=[+-]\d)")
# Two defaults that differ in year, month and day: a component dateutil took from the
# default shows up as a difference between the two parses.
_DEFAULTS = (datetime(2001, 1, 1), datetime(2002, 2, 2))


def _zone(name: str | None, offset: int | None):
    if name is None:
        return None if offset is None else timezone(timedelta(seconds=offset))
    hours = NAMED_ZONES.get(name)
    if hours is None:
        raise RecordError("InvalidDate", f"unknown time zone {name[:20]!r}")
    if offset is not None and offset != hours * 3600:
        raise RecordError("InvalidDate", f"time zone {name} and offset {offset / 3600:+g} h disagree")
    return timezone(timedelta(hours=hours))


def _parse_date_string(value: str) -> datetime:
    text = value.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    text = _UTC_PLUS_OFFSET.sub("", text)
    first, second = (dateparser.parse(text, default=d, tzinfos=_zone) for d in _DEFAULTS)
    if first.date() != second.date():
        raise RecordError("InvalidDate", f"not a full date (year, month and day): {value[:80]!r}")
    return first


def parse_timestamp(value) -> str | None:
    """ISO 8601 string in UTC for a date value, by the rule in this module's docstring."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):  # e.g. a Parquet date32 column
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = _parse_date_string(value)
        except RecordError:
            raise
        except Exception:  # noqa: BLE001 - dateutil raises assorted types on odd strings
            raise RecordError("InvalidDate", f"cannot parse date {value[:80]!r}") from None
    else:
        raise RecordError("WrongType", f"date must be a string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc).isoformat()
    except (OverflowError, ValueError):
        raise RecordError("InvalidDate", f"date {str(value)[:80]!r} is outside years 1-9999 in UTC") from None


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
    # Raw input (HTML with inline scripts and JSON runs to 1.5 MB) is capped far above real pages;
    # the cap on a document's text, input.max_doc_chars, applies after cleaning (pipeline/stages/clean.py).
    if len(text) > cfg.max_raw_chars:
        raise RecordError("TooLong", f"{len(text):,} characters of raw input; the limit is {cfg.max_raw_chars:,} (input.max_raw_chars)")

    raw_id = record.get(cfg.id_field)
    if raw_id is None or raw_id == "":
        doc_id = content_id(text)
    elif isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
        raise RecordError("WrongType", f"field {cfg.id_field!r} must be a string or an integer, got {type(raw_id).__name__}")
    else:
        if isinstance(raw_id, int) and abs(raw_id) >= _LARGEST_INT_ID:
            # Checked before str(): Python refuses to format integers of over 4,300 digits.
            raise RecordError("InvalidId", f"integer id has more than {MAX_ID_CHARS} digits")
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


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _open_regular(path: Path, follow: bool = True) -> BinaryIO:
    """Opens a regular file for reading, or raises RecordError("NotARegularFile") / OSError.

    O_NONBLOCK makes opening a named pipe return at once instead of waiting for a writer;
    the type is checked on the open descriptor, so a file swapped after a check is caught too.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise RecordError("NotARegularFile", f"{path.name} is {_file_kind(mode)}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _parse_json_line(line: str) -> object:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        return RecordError("InvalidJSON", f"invalid JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:
        return RecordError("InvalidJSON", "invalid JSON: nested too deeply")
    except Exception as exc:  # noqa: BLE001 - e.g. an integer of over 4,300 digits (ValueError)
        return RecordError("InvalidJSON", f"invalid JSON: {_describe(exc)}")


# Opens an input file for reading: a local regular file (_open_regular) or a remote object.
Opener = Callable[[], BinaryIO]


def _records_jsonl(open_file: Opener) -> Iterator[tuple[int, object]]:
    with open_file() as fh:
        for number, raw_line in enumerate(fh, start=1):
            try:
                line = raw_line.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield number, RecordError("UndecodableBytes", f"line is not valid UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            if not line.strip():
                continue
            yield number, _parse_json_line(line)


def allow_large_csv_fields() -> None:
    """Python's csv module refuses fields over 128 KiB by default; the document size limit is ours to apply."""
    csv.field_size_limit(2**31 - 1)


allow_large_csv_fields()


def _used_fields(cfg: InputConfig) -> list[str]:
    return [cfg.text_field, cfg.id_field, cfg.title_field, cfg.url_field, cfg.date_field, cfg.outlet_field]


def _check_unique_columns(names: list[str], cfg: InputConfig) -> None:
    # A record is a mapping, so of two columns with one name only one can survive; for the
    # fields we read that would silently pick one. Repeats of other names (often blank
    # headers in spreadsheet exports) lose nothing we use.
    for field in dict.fromkeys(_used_fields(cfg)):
        positions = [i + 1 for i, name in enumerate(names) if name == field]
        if len(positions) > 1:
            raise RecordError(
                "DuplicateColumn",
                f"the header names {field!r} more than once (columns {', '.join(map(str, positions))}); rename or drop all but one",
            )


def _records_csv(open_file: Opener, cfg: InputConfig) -> Iterator[tuple[int, object]]:
    # utf-8-sig: spreadsheet exports start with a byte-order mark that must not stick to the first header.
    with io.TextIOWrapper(open_file(), encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RecordError("InvalidCSV", f"cannot read the header: {exc}") from None
        _check_unique_columns(header, cfg)
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


def _parquet_row(batch, index: int, cfg: InputConfig) -> object:
    record = {}
    for name, column in zip(batch.schema.names, batch.columns):
        try:
            record[name] = column[index].as_py()
        except Exception as exc:  # noqa: BLE001 - e.g. a timestamp beyond year 9999
            kind = "InvalidDate" if name == cfg.date_field else "InvalidValue"
            return RecordError(kind, f"field {name!r} cannot be read: {_describe(exc)}")
    return record


def _records_parquet(open_file: Opener, cfg: InputConfig) -> Iterator[tuple[int, object]]:
    with open_file() as fh:
        parquet = pq.ParquetFile(fh)
        names = parquet.schema_arrow.names
        _check_unique_columns(names, cfg)
        # Only the fields we use: a column we never read cannot cost a record.
        columns = [name for name in names if name in set(_used_fields(cfg))]
        number = 0
        for batch in parquet.iter_batches(batch_size=1024, columns=columns):
            try:
                records = batch.to_pylist()
            except Exception:  # noqa: BLE001 - one bad value fails the whole batch; find it row by row
                records = [_parquet_row(batch, i, cfg) for i in range(batch.num_rows)]
            for record in records:
                number += 1
                yield number, record


def _read_file_document(path: Path | str, rel_id: str, cfg: InputConfig, open_path: Path | None = None,
                        open_file: Opener | None = None) -> Document | Rejected:
    """One file, one document. `open_path` is what to open when `path` is a link already
    resolved and checked (opened without following links, so it cannot be swapped for one);
    `open_file` opens a remote object."""
    source = str(path)
    name = PurePosixPath(source).name
    open_file = open_file or (lambda: _open_regular(open_path or path, follow=open_path is None))
    try:
        with open_file() as fh:
            data = fh.read()
    except RecordError as exc:
        return Rejected(source, None, rel_id, Failure("read", exc.kind, str(exc)))
    except OSError as exc:
        message = storage.redact(f"cannot read {name}: {exc.strerror or exc}")
        return Rejected(source, None, rel_id, Failure("read", "UnreadableFile", message))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejected(source, None, rel_id, Failure("read", "UndecodableBytes", f"file is not valid UTF-8 ({exc.reason} at byte {exc.start})"))
    if not text.strip():
        return Rejected(source, None, rel_id, Failure("read", "EmptyText", "the file is empty or only whitespace"))
    record = {cfg.text_field: text, cfg.id_field: rel_id}
    try:
        return document_from_record(record, source, None, cfg, is_html=PurePosixPath(name).suffix.lower() in HTML_SUFFIXES)
    except RecordError as exc:
        return Rejected(source, None, rel_id, Failure("read", exc.kind, str(exc)))


def _printable(name: str | Path) -> str:
    """A file system name as UTF-8 text: undecodable bytes (kept as surrogates by Python) become U+FFFD."""
    return str(name).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _entry_rejected(path: Path, kind: str, message: str) -> Rejected:
    return Rejected(_printable(path), None, None, Failure("read", kind, message))


def _folder_entries(root: Path, follow_links: bool) -> Iterator[tuple[Path, Path] | Rejected]:
    """(path, path to open) for each regular file under `root` in name order, or a Rejected
    for an entry that cannot be read.

    Iterative, so that depth is not bounded by Python's recursion limit. Each stack frame
    carries the real paths of the folders above it: a link back to one of them never ends.
    """
    root_real = Path(os.path.realpath(root))
    stack: list[tuple[Path, frozenset[str], Iterator[str]]] = []

    def enter(folder: Path, real: str, ancestors: frozenset[str]) -> Rejected | None:
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            return _entry_rejected(folder, "UnreadableFile", f"cannot list the folder {_printable(folder.name)}: {exc.strerror or exc}")
        stack.append((folder, ancestors | {real}, iter(names)))
        return None

    failed = enter(root, str(root_real), frozenset())
    if failed:
        yield failed
    while stack:
        folder, ancestors, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        if name.startswith("."):
            continue
        path = folder / name
        if not _is_utf8(name):
            # Its name would be the document's id and source, which must be UTF-8 to be written.
            yield _entry_rejected(path, "UndecodableBytes", f"the name is not valid UTF-8: {_printable(name)}")
            continue
        try:
            mode = os.lstat(path).st_mode
        except OSError as exc:  # e.g. removed since the folder was listed
            yield _entry_rejected(path, "UnreadableFile", f"cannot read {name}: {exc.strerror or exc}")
            continue
        open_path = path
        if stat.S_ISLNK(mode):
            try:
                target = os.readlink(path)
            except OSError as exc:  # removed since the folder was listed
                yield _entry_rejected(path, "UnreadableFile", f"cannot read the link {name}: {exc.strerror or exc}")
                continue
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                yield _entry_rejected(path, "BrokenLink", f"link to nothing: {name} -> {_printable(target)}")
                continue
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    yield _entry_rejected(path, "LinkLoop", f"link loop: {name} -> {_printable(target)}")
                else:
                    yield _entry_rejected(path, "UnreadableFile", f"cannot follow the link {name}: {exc.strerror or exc}")
                continue
            open_path = Path(os.path.realpath(path))
            if not follow_links and not open_path.is_relative_to(root_real):
                yield _entry_rejected(path, "LinkOutsideInput", f"link leads outside the input folder, not followed: {name} -> {_printable(target)}")
                continue
        if stat.S_ISDIR(mode):
            real = os.path.realpath(path)
            if real in ancestors:
                yield _entry_rejected(path, "LinkLoop", f"link to a folder that contains it: {name} -> {_printable(real)}")
                continue
            failed = enter(path, real, ancestors)
            if failed:
                yield failed
        elif stat.S_ISREG(mode):
            yield path, open_path
        else:
            yield _entry_rejected(path, "NotARegularFile", f"{name} is {_file_kind(mode)}, not a regular file")


def _read_folder(root: Path, cfg: InputConfig, follow_links: bool = False) -> Iterator[Document | Rejected]:
    for entry in _folder_entries(root, follow_links):
        if isinstance(entry, Rejected):
            yield entry
            continue
        path, open_path = entry
        if path.suffix.lower() not in TEXT_SUFFIXES | HTML_SUFFIXES:
            yield _entry_rejected(path, "UnsupportedFile", f"not a .txt or .html file: {path.name}")
            continue
        rel_id = path.relative_to(root).as_posix()
        try:
            yield _read_file_document(path, rel_id, cfg, open_path)
        except Exception as exc:  # noqa: BLE001 - one file never stops the folder
            yield Rejected(str(path), None, rel_id, Failure("read", type(exc).__name__, _describe(exc)))


def _readable_id(record, cfg: InputConfig) -> str | None:
    doc_id = record.get(cfg.id_field) if isinstance(record, dict) else None
    return doc_id if isinstance(doc_id, str) and _is_utf8(doc_id) else None


def _record_item(record, source: str, line: int, cfg: InputConfig) -> Document | Rejected:
    if isinstance(record, RecordError):
        return Rejected(source, line, None, Failure("read", record.kind, str(record)))
    try:
        return document_from_record(record, source, line, cfg)
    except RecordError as exc:
        return Rejected(source, line, _readable_id(record, cfg), Failure("validate", exc.kind, str(exc)))
    except Exception as exc:  # noqa: BLE001 - whatever a record's contents provoke costs that record only
        return Rejected(source, line, _readable_id(record, cfg), Failure("validate", type(exc).__name__, _describe(exc)))


def _read_records(path: Path | str, cfg: InputConfig, open_file: Opener | None = None,
                  file_id: str | None = None) -> Iterator[Document | Rejected]:
    """The records of one file, by its suffix. A remote object comes with `open_file`, and with
    `file_id` (its key below the input prefix) when it was found under a prefix."""
    source = str(path)
    name = PurePosixPath(source).name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in TEXT_SUFFIXES | HTML_SUFFIXES:
        yield _read_file_document(path, file_id or name, cfg, open_file=open_file)
        return
    open_file = open_file or (lambda: _open_regular(path))
    if suffix in JSONL_SUFFIXES:
        records = _records_jsonl(open_file)
    elif suffix in CSV_SUFFIXES:
        records = _records_csv(open_file, cfg)
    elif suffix in PARQUET_SUFFIXES:
        records = _records_parquet(open_file, cfg)
    else:
        yield Rejected(source, None, None, Failure("read", "UnsupportedFile", f"unknown input format: {name}"))
        return
    # Only the file as a whole can fail here (it cannot be opened, its header or footer is
    # unusable, the disk fails mid-read): every per-record failure is a value, not an exception.
    try:
        for line, record in records:
            yield _record_item(record, source, line, cfg)
    except RecordError as exc:
        yield Rejected(source, None, None, Failure("read", exc.kind, str(exc)))
    except OSError as exc:
        message = storage.redact(f"cannot read {name}: {exc.strerror or exc}")
        yield Rejected(source, None, None, Failure("read", "UnreadableFile", message))
    except Exception as exc:  # noqa: BLE001 - e.g. a corrupt Parquet file; recorded, the job goes on
        yield Rejected(source, None, None, Failure.of("read", exc))


def _read_remote(location: str, cfg: InputConfig) -> Iterator[Document | Rejected]:
    """An s3:// object, or the objects under an s3:// prefix in key order (see the module docstring)."""
    if storage.is_file(location):
        yield from _read_records(location, cfg, open_file=lambda: storage.open_input(location))
        return
    prefix = location.rstrip("/") + "/"
    for found in storage.list_files(location):
        key = found[len(prefix):]
        if any(part.startswith((".", "_")) for part in key.split("/")):
            continue
        yield from _read_records(found, cfg, open_file=lambda found=found: storage.open_input(found), file_id=key)


def _read_input(path: Path | str, cfg: InputConfig, follow_links: bool) -> Iterator[Document | Rejected]:
    if storage.is_url(path):
        items = _read_remote(path, cfg)
    else:
        items = _read_folder(path, cfg, follow_links) if path.is_dir() else _read_records(path, cfg)
    try:
        yield from items
    except Exception as exc:  # noqa: BLE001 - a reader's own bug costs the rest of this input, not the job
        yield Rejected(str(path), None, None, Failure("read", type(exc).__name__, _describe(exc)))


def check_inputs(paths: list[str]) -> list[Path | str]:
    """Resolves the input paths, raising InputError when one does not exist or is neither a
    regular file nor a folder (a named pipe would be drained by the first of the two passes
    over the input, counting and reading, and then block the second). An s3:// input must be
    an object or a prefix with objects under it; it stays a URL."""
    if not paths:
        raise InputError("no input given")
    resolved: list[Path | str] = []
    for p in paths:
        if storage.is_url(p):
            url = storage.normalize(p)
            storage.check_readable(url)
            resolved.append(url)
            continue
        path = Path(p)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise InputError(f"input not found: {p}") from None
        except OSError as exc:
            raise InputError(f"cannot read input {p}: {exc.strerror or exc}") from None
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise InputError(f"input is {_file_kind(mode)}, not a file or folder: {p}")
        if not _is_utf8(str(path.resolve())):
            raise InputError(f"input path is not valid UTF-8 (it names every record it holds): {_printable(p)}")
        resolved.append(path.resolve())
    return resolved


def read_corpus(paths: list[Path | str], cfg: InputConfig) -> Iterator[Document | Rejected]:
    """All records of all inputs, in order; duplicate ids rejected, duplicate content flagged.

    `cfg.follow_links`: inside input folders, also read links whose target lies outside the
    folder (by default they are refused with a `LinkOutsideInput` failure row).
    """
    seen_ids: set[str] = set()
    first_with_content: dict[bytes, str] = {}
    for path in paths:
        for item in _read_input(path, cfg, cfg.follow_links):
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
