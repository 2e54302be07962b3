"""The Parquet sink: annotated documents to rows, rows to atomically committed part files.

Layout: OUT/<table>/job_id=<job>/part-<batch>.parquet, OUT a local folder or an s3:// URL.
A batch always writes one file per table (empty ones too, so every table has a schema to
read) at a name fixed by its batch number, as one whole file or object
(`storage.write_whole`: locally a hidden temporary name renamed over the final one, on S3
one PUT or a completed multipart upload). A redelivered batch therefore replaces its files
with the same rows and can never leave a duplicate or a half-written file where readers look
(they skip `.` and `_` names).
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
