"""The Parquet sink: annotated documents to rows, rows to atomically committed part files,
part files to a few large files once the job is done.

OUT is a local folder or an s3:// URL. `commit_batch` writes one file per table for a batch,
`<root>/<table>/job_id=<job>/part-<batch>.parquet` (empty ones too, so every table has a
schema to read), at a name fixed by its batch number, as one whole file or object
(`storage.write_whole`: locally a hidden temporary name renamed over the final one, on S3 one
PUT or a completed multipart upload). A redelivered batch therefore replaces its files with
the same rows and can never leave a duplicate or a half-written file.

A job's batches commit into its staging root, OUT/_parts/<job> (`staging_dir`), which readers
of OUT/<table> never list. When every batch is committed, `compact_job` merges the parts into
OUT/<table>/job_id=<job>/part-<first batch>-<last batch>.parquet: one file per group of
consecutive batches holding about FILE_INPUT_CHARS characters of input, with row groups of
about ROW_GROUP_BYTES. The groups follow from the batches' input sizes alone, so a finalize
that runs twice writes the same names with the same rows; a batch redelivered after the job
was compacted writes into the staging root, where no reader looks: no duplicate can appear.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.documents import Document, Rejected
from pipeline.io import storage
from pipeline.schemas import SCHEMA_VERSION, TABLES


def part_name(batch: int) -> str:
    return f"part-{batch:06d}.parquet"


def partition_dir(out: str | Path, table: str, job_id: str) -> str | Path:
    """The job's folder (or key prefix) of a table; a Path for a Path, a location for a location."""
    if isinstance(out, Path):
        return out / table / f"job_id={job_id}"
    return storage.join(out, table, f"job_id={job_id}")


STAGING = "_parts"
# A compacted file gathers consecutive batches until they hold this many characters of input:
# about 100 MB of Parquet for plain text (less for HTML input). Readers pay per file, most of all
# on object storage; a worker holds one row group and one file's bytes while it writes.
FILE_INPUT_CHARS = 256_000_000
# Row groups of about this many bytes in memory: the unit pyarrow, DuckDB and Spark read in parallel.
ROW_GROUP_BYTES = 128 * 2**20


def staging_dir(out: str, job_id: str) -> str:
    """Where a job's batches commit until the job is compacted: OUT/_parts/<job>, a dataset root
    of its own beside the datasets (a `_` name: readers skip it)."""
    return storage.join(str(out), STAGING, job_id)


def compaction_plan(input_chars: dict[int, int]) -> list[list[int]]:
    """Batches grouped into compacted files: consecutive, each group closed once it holds
    FILE_INPUT_CHARS characters of input. Batch sizes are fixed by the input, so is the plan."""
    groups: list[list[int]] = [[]]
    size = 0
    for batch in sorted(input_chars):
        if size >= FILE_INPUT_CHARS:
            groups.append([])
            size = 0
        groups[-1].append(batch)
        size += input_chars[batch]
    return groups


def _merge(parts: list[str], fh) -> None:
    """Writes the rows of `parts`, in order, as one Parquet file with large row groups. The parts
    are fetched together (their compressed bytes: about one compacted file's worth)."""
    writer = None
    pending: list[pa.Table] = []
    pending_bytes = 0
    for data in storage.read_many(parts):
        table = pq.read_table(pa.BufferReader(data))
        writer = writer or pq.ParquetWriter(fh, table.schema, compression="zstd")
        pending.append(table)
        pending_bytes += table.nbytes
        if pending_bytes >= ROW_GROUP_BYTES:
            group = pa.concat_tables(pending)
            writer.write_table(group, row_group_size=max(1, group.num_rows))
            pending, pending_bytes = [], 0
    if sum(t.num_rows for t in pending):
        group = pa.concat_tables(pending)
        writer.write_table(group, row_group_size=group.num_rows)
    writer.close()  # an empty table still gets a file with its schema


def compact_job(out: str, job_id: str, input_chars: dict[int, int]) -> dict[str, list[str]]:
    """Merges the job's staged part files (every batch of `input_chars`: batch -> characters of
    input) into its partitions under OUT; returns each table's files, relative to OUT."""
    staged = staging_dir(out, job_id)
    files: dict[str, list[str]] = {}
    for name in TABLES:
        files[name] = []
        for group in compaction_plan(input_chars):
            file_name = f"part-{group[0]:06d}-{group[-1]:06d}.parquet"
            parts = [storage.join(partition_dir(staged, name, job_id), part_name(b)) for b in group]
            storage.write_whole(storage.join(partition_dir(str(out), name, job_id), file_name),
                                lambda fh, parts=parts: _merge(parts, fh))
            files[name].append(f"{name}/job_id={job_id}/{file_name}")
    return files


def remove_staging(out: str, job_id: str) -> None:
    """Deletes the job's staged part files; called only once the job is marked finished."""
    storage.remove_tree(staging_dir(out, job_id))


def batch_rows(
    docs: list[Document], rejected: list[Rejected], batch: int, now: datetime, pipeline_version: str, models: dict[str, str]
) -> dict[str, list[dict]]:
    """Rows for every table from one processed batch; `models` maps a stage to its model's id."""
    rows: dict[str, list[dict]] = {name: [] for name in TABLES}
    for rej in rejected:
        rows["failures"].append(
            {"doc_id": rej.doc_id, "source": rej.source, "line": rej.line, "stage": rej.failure.stage,
             "error_type": rej.failure.error_type, "message": rej.failure.message, "batch": batch, "failed_at": now}
        )
    for doc in docs:
        if doc.failure is not None:
            rows["failures"].append(
                {"doc_id": doc.doc_id, "source": doc.source, "line": doc.line, "stage": doc.failure.stage,
                 "error_type": doc.failure.error_type, "message": doc.failure.message, "batch": batch, "failed_at": now}
            )
            continue
        sentiment = doc.sentiment
        rows["documents"].append(
            {
                "doc_id": doc.doc_id, "source": doc.source, "line": doc.line, "url": doc.url, "title": doc.title,
                "outlet": doc.outlet, "published_at": doc.published_at and datetime.fromisoformat(doc.published_at),
                "language": doc.language, "text": doc.text, "n_chars": len(doc.text), "n_words": len(doc.text.split()),
                "n_sentences": len(doc.sentences), "n_entities": len(doc.entities), "duplicate_of": doc.duplicate_of,
                "sentiment_label": sentiment.label if sentiment else None,
                "sentiment_score": sentiment.score if sentiment else None,
                "sentiment_confidence": sentiment.confidence if sentiment else None,
                "sentiment_model": models.get("sentiment"),
                "unscored_reason": "; ".join(f"{stage}: {why}" for stage, why in sorted(doc.unscored.items())) or None,
                "batch": batch, "processed_at": now, "pipeline_version": pipeline_version,
            }
        )
        rows["entities"].extend(
            {"doc_id": doc.doc_id, "sentence": e.sentence, "start": e.start, "end": e.end, "text": e.text,
             "label": e.label, "target": e.target}
            for e in doc.entities
        )
        rows["stances"].extend(
            {"doc_id": doc.doc_id, "target": s.target, "stance": s.stance, "score": s.score, "confidence": s.confidence,
             "mentions": s.mentions, "evidence": s.evidence, "stance_model": models.get("stance")}
            for s in doc.stances
        )
        rows["stance_sentences"].extend(
            {"doc_id": doc.doc_id, "target": u.target, "sentence": u.sentence, "start": u.start, "end": u.end,
             "text": u.text, "stance": u.stance, "p_against": u.probs[0], "p_neutral": u.probs[1], "p_favor": u.probs[2],
             "holder": u.holder}
            for u in doc.stance_units
        )
    return rows


def commit_batch(out: str, job_id: str, batch: int, rows: dict[str, list[dict]], metadata: dict[str, str]) -> dict[str, int]:
    """Writes one part file per table for this batch; returns the row count per table."""
    counts = {}
    file_metadata = {"schema_version": SCHEMA_VERSION, **metadata}
    encoded = {k.encode(): (v if isinstance(v, str) else json.dumps(v)).encode() for k, v in file_metadata.items()}
    for name, schema in TABLES.items():
        table = pa.Table.from_pylist(rows[name], schema=schema.with_metadata(encoded))
        storage.write_whole(storage.join(partition_dir(out, name, job_id), part_name(batch)),
                            lambda fh, table=table: pq.write_table(table, fh, compression="zstd"))
        counts[name] = table.num_rows
    return counts


def remove_temp_files(out: str | Path, job_id: str) -> int:
    """Deletes temporary files left by local writers that were killed mid-write; returns how many.
    (An object store has none: an unfinished upload never becomes an object.)

    Called once every batch of the job is committed, so no live writer still owns one.
    """
    if storage.is_url(out):
        return 0
    removed = 0
    for name in TABLES:
        for tmp in Path(partition_dir(out, name, job_id)).glob(".part-*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed
