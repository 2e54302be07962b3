"""What compaction buys a reader: the read time of a large job's `documents`, before and after.

    python scripts/bench_compaction.py [--docs 48000] [--batch-docs 64] [--out DIR | s3://bucket/prefix]

Writes a synthetic job's batches as the workers do (pipeline.io.parquet.commit_batch into the
job's staging root; one part file per batch and table), reads the staged `documents` with pandas,
compacts the job (compact_job, as the finalize step does), and reads the compacted `documents`
again. No model runs: each document is made of consecutive synthetic articles (about 2,000
characters of text). For an s3:// output, the standard AWS variables say where the bucket is
(AWS_ENDPOINT_URL for a local server such as `python -m scripts.s3_server`). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone

from pipeline.documents import Document
from pipeline.io import storage
from pipeline.io.parquet import batch_rows, commit_batch, compact_job, remove_staging, staging_dir
from pipeline.synthetic import synthetic_id, synthetic_record

ARTICLES_PER_DOC = 9


def document(i: int) -> Document:
    text = " ".join(synthetic_record(i * ARTICLES_PER_DOC + k)["text"] for k in range(ARTICLES_PER_DOC))
    doc = Document(doc_id=synthetic_id(i), source="synthetic.jsonl", line=i + 1, raw=text)
    doc.text, doc.language = text, "en"
    return doc


def timed_read(location: str, repeats: int) -> tuple[float, int, float]:
    """(best seconds, rows, median seconds) of `repeats` full reads of a dataset with pandas."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        rows = len(storage.read_parquet(location))
        times.append(time.perf_counter() - started)
    return round(min(times), 3), rows, round(statistics.median(times), 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=48_000)
    p.add_argument("--batch-docs", type=int, default=64, help="documents per batch (batching.max_docs)")
    p.add_argument("--out", help="output folder or s3:// prefix (default: a temporary folder)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    out = storage.normalize(args.out or tempfile.mkdtemp(prefix="nlp-compaction-"))
    job = "compaction-bench"
    now = datetime.now(timezone.utc)
    input_chars = {}
    started = time.perf_counter()
    for batch, first in enumerate(range(0, args.docs, args.batch_docs)):
        docs = [document(i) for i in range(first, min(first + args.batch_docs, args.docs))]
        commit_batch(staging_dir(out, job), job, batch, batch_rows(docs, [], batch, now, "bench", {}), {"job_id": job})
        input_chars[batch] = sum(len(d.raw) for d in docs)
    write_seconds = time.perf_counter() - started
    staged = storage.join(staging_dir(out, job), "documents")
    before, rows, before_median = timed_read(staged, args.repeats)
    started = time.perf_counter()
    files = compact_job(out, job, input_chars)
    compact_seconds = time.perf_counter() - started
    after, rows_after, after_median = timed_read(storage.join(out, "documents"), args.repeats)
    assert rows_after == rows == args.docs, (rows, rows_after)
    remove_staging(out, job)
    print(json.dumps({
        "out": out, "docs": args.docs, "batches": len(input_chars), "characters": sum(input_chars.values()),
        "documents_files_before": len(input_chars), "documents_files_after": len(files["documents"]),
        "write_parts_seconds": round(write_seconds, 1), "compact_seconds": round(compact_seconds, 1),
        "read_seconds_before": before, "read_seconds_after": after,
        "read_seconds_before_median": before_median, "read_seconds_after_median": after_median,
        "speedup": round(before / after, 1),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
