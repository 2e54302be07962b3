"""`nlp-pipeline report` on a large synthetic output: wall time and peak RSS.

    python scripts/report_scale.py [--docs 1000000] [--docs-per-file 1000] [--dir DIR] [--json out.json]

Writes the output tables of one job straight from the schemas in pipeline/schemas.py (no pipeline
run: only the report is measured), with what the report reads made realistic: about 14 entity
mentions per document drawn from a skewed vocabulary, a stance row per scored document and target,
evidence sentences, dates over two years with some missing, 40 outlets with some missing, 3 % of
documents in a language the models do not read, and 1 % failures. Columns the report does not read
are null or constant. Then runs `nlp-pipeline report` in a child process and reports its wall time and peak RSS
(getrusage of the waited child). The data goes to a temporary folder unless --dir is given.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.labels import SENTIMENT_LABELS
from pipeline.schemas import TABLES

TARGETS = ("NATO", "Russia", "Ukraine")
STANCES = ("favor", "neutral", "against", "not_mentioned")
STANCE_P = (0.12, 0.30, 0.18, 0.40)
# Named entities, the targets' own names among them, and the numeric kinds the report leaves out.
TARGET_NAMES = {"Russia": ("GPE", "Russia"), "Moscow": ("GPE", "Russia"), "Kremlin": ("ORG", "Russia"),
                "NATO": ("ORG", "NATO"), "Ukraine": ("GPE", "Ukraine"), "Kyiv": ("GPE", "Ukraine")}
VOCABULARY = 20_000
START = datetime(2023, 1, 1, tzinfo=timezone.utc)
SPAN_SECONDS = 2 * 365 * 86400


def _dictionary(values: list[str], codes: np.ndarray, missing: np.ndarray | None = None) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32(), mask=missing), pa.array(values, pa.string()))


def _vocabulary() -> tuple[pa.Array, list[str], np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Entity texts, label names and codes, target names and codes, and Zipf-like weights."""
    names = list(TARGET_NAMES) + ["Friday", "two"] + [f"Entity {i}" for i in range(VOCABULARY - len(TARGET_NAMES) - 2)]
    labels = ["GPE", "ORG", "PERSON", "NORP", "DATE", "CARDINAL"]
    label_of = [TARGET_NAMES[n][0] if n in TARGET_NAMES else ("DATE" if n == "Friday" else "CARDINAL" if n == "two"
                                                              else labels[i % 4]) for i, n in enumerate(names)]
    target_of = [TARGETS.index(TARGET_NAMES[n][1]) if n in TARGET_NAMES else -1 for n in names]
    weights = 1.0 / np.arange(1, len(names) + 1) ** 1.1
    return (pa.array(names), labels, np.array([labels.index(x) for x in label_of]), list(TARGETS),
            np.array(target_of), weights / weights.sum())


def _table(name: str, rows: int, columns: dict[str, pa.Array]) -> pa.Table:
    """Table `name` with its declared schema; a column not given (one the report does not read) is null."""
    schema = TABLES[name]
    return pa.Table.from_arrays([columns.get(f.name, pa.nulls(rows, f.type)) for f in schema], schema=schema)


def _chunk(rng: np.random.Generator, first: int, n: int, batch: int, vocab, dated: float,
           with_outlet: float) -> dict[str, pa.Table]:
    # The same ids in every job, as when one corpus is run twice: the report must join on (job, id).
    ids = pa.array([f"doc-{i:08d}" for i in range(first, first + n)])
    lines = np.arange(first, first + n)
    utc = pa.timestamp("us", tz="UTC")
    now = pa.array(np.full(n, int(time.time()) * 1_000_000), utc)
    published = (int(START.timestamp()) + rng.integers(0, SPAN_SECONDS, n)) * 1_000_000
    outlets = np.array([f"Outlet {i:02d}" for i in range(40)])
    outlet_p = 1.0 / np.arange(1, 41)
    # A few documents in a language the models do not read: no sentiment, no stance rows.
    unscored = rng.random(n) < 0.03
    sentiment = rng.choice(3, n, p=(0.2, 0.6, 0.2))
    score = np.clip((sentiment - 1) * 0.5 + rng.normal(0, 0.25, n), -1, 1).astype(np.float32)
    documents = _table("documents", n, {
        "doc_id": ids, "source": pa.array(["synthetic.jsonl"] * n), "line": pa.array(lines),
        "url": pa.array([f"https://example.org/a/{i}" for i in lines], mask=rng.random(n) < 0.05),
        "title": pa.array([f"Synthetic article {i}" for i in lines], mask=rng.random(n) < 0.03),
        "outlet": pa.array(outlets[rng.choice(40, n, p=outlet_p / outlet_p.sum())], mask=rng.random(n) >= with_outlet),
        "published_at": pa.array(published, utc, mask=rng.random(n) >= dated),
        "language": _dictionary(["en", "de"], unscored.astype(int)), "text": pa.array(["(not read by the report)"] * n),
        "n_chars": pa.array(rng.integers(500, 5000, n), pa.int32()), "n_words": pa.array(rng.integers(80, 800, n), pa.int32()),
        "n_sentences": pa.array(rng.integers(3, 40, n), pa.int32()), "n_entities": pa.array(rng.integers(0, 30, n), pa.int32()),
        "sentiment_label": _dictionary(list(SENTIMENT_LABELS), sentiment, missing=unscored),
        "sentiment_score": pa.array(score, mask=unscored),
        "unscored_reason": pa.array(["sentiment, stance: language de; the models read en"] * n, mask=~unscored),
        "batch": pa.array(np.full(n, batch), pa.int32()), "processed_at": now,
        "pipeline_version": _dictionary(["0.1.0"], np.zeros(n)),
    })

    # One stance row per scored document and target.
    doc_of = np.repeat(np.flatnonzero(~unscored), len(TARGETS))
    m = len(doc_of)
    target = np.tile(np.arange(len(TARGETS)), m // len(TARGETS))
    stance = rng.choice(len(STANCES), m, p=STANCE_P)
    mentioned = stance < 3
    low = np.array([0.05, -0.3, -1.0, 0.0])[stance]
    high = np.array([1.0, 0.3, -0.05, 0.0])[stance]
    n_evidence = np.where(mentioned, rng.integers(1, 4, m), 0)
    offsets = np.concatenate([[0], np.cumsum(n_evidence)]).astype(np.int32)
    sentence_no = np.arange(offsets[-1]) - np.repeat(offsets[:-1], n_evidence)
    row_of = np.repeat(np.arange(m), n_evidence)
    sentences = pa.array([f"Sentence {s} about {TARGETS[target[r]]} in article {first + doc_of[r]}."
                          for s, r in zip(sentence_no, row_of)])
    stances = _table("stances", m, {
        "doc_id": pc.take(ids, pa.array(doc_of)), "target": _dictionary(list(TARGETS), target),
        "stance": _dictionary(list(STANCES), stance),
        "score": pa.array(rng.uniform(low, high).astype(np.float32), mask=~mentioned),
        "confidence": pa.array(rng.uniform(0.34, 1.0, m).astype(np.float32), mask=~mentioned),
        "mentions": pa.array(np.where(mentioned, rng.integers(1, 6, m), 0), pa.int32()),
        "evidence": pa.ListArray.from_arrays(pa.array(offsets), sentences, mask=pa.array(~mentioned)),
        "stance_model": _dictionary(["synthetic-stance"], np.zeros(m)),
    })

    texts, labels, label_codes, targets, target_codes, weights = vocab
    per_doc = rng.poisson(14, n)
    k = int(per_doc.sum())
    word = rng.choice(len(weights), k, p=weights)
    start = rng.integers(0, 4000, k)
    entities = _table("entities", k, {
        "doc_id": pc.take(ids, pa.array(np.repeat(np.arange(n), per_doc))),
        "sentence": pa.array(rng.integers(0, 30, k), pa.int32()),
        "start": pa.array(start, pa.int32()), "end": pa.array(start + 6, pa.int32()), "text": pc.take(texts, pa.array(word)),
        "label": _dictionary(labels, label_codes[word]),
        "target": _dictionary(targets, np.maximum(target_codes[word], 0), missing=target_codes[word] < 0),
    })

    failed = first + np.flatnonzero(rng.random(n) < 0.01)
    f = len(failed)
    failures = _table("failures", f, {
        "doc_id": pa.array([f"failed-{i}" for i in failed], pa.string()), "source": pa.array(["synthetic.jsonl"] * f),
        "line": pa.array(failed, pa.int64()),
        "stage": _dictionary(["read", "validate", "clean", "ner"], rng.integers(0, 4, f)),
        "error_type": _dictionary(["InvalidJSON", "EmptyText", "InvalidDate", "TooLong"], rng.integers(0, 4, f)),
        "message": pa.array(["synthetic failure"] * f), "batch": pa.array(np.full(f, batch), pa.int32()), "failed_at": now[:f],
    })
    # Every table the sink writes, those the report does not read too (empty), as a real job has them.
    return {name: TABLES[name].empty_table() for name in TABLES} | {
        "documents": documents, "stances": stances, "entities": entities, "failures": failures}


def write_synthetic_output(out: Path, documents: int, job: str = "synthetic", docs_per_file: int = 1000,
                           seed: int = 0, dated: float = 0.95, with_outlet: float = 0.9) -> dict[str, int]:
    """Writes job `job` of `documents` documents into OUT as the sink lays it out (README, "Read the
    output": one file per table and batch, here of `docs_per_file` documents), with its manifest. `dated` and `with_outlet` are the
    shares of documents with a date and with an outlet. Returns the rows written per table."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary()
    rows = dict.fromkeys(TABLES, 0)
    for batch, first in enumerate(range(0, documents, docs_per_file)):
        tables = _chunk(rng, first, min(docs_per_file, documents - first), batch, vocab, dated, with_outlet)
        for name, table in tables.items():
            folder = out / name / f"job_id={job}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / f"part-{batch:06d}.parquet", compression="zstd")
            rows[name] += table.num_rows
    manifest = {"job_id": job, "records": documents, "batches": batch + 1, "rows": rows,
                "created_at": START.isoformat(), "finished_at": START.isoformat(),
                "models": {"sentiment": "synthetic-sentiment", "stance": "synthetic-stance"},
                "versions": {"schema": "1"}}
    path = out / "_jobs" / f"{job}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--docs-per-file", type=int, default=1000, help="documents per part file (the sink writes one per batch)")
    ap.add_argument("--dir", type=Path, help="where to write the output and the report (default: a temporary folder)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="report-scale-"))
    out = work / "out"
    started = time.monotonic()
    rows = write_synthetic_output(out, args.docs, docs_per_file=args.docs_per_file)
    generated = time.monotonic() - started
    disk = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    print(f"wrote {rows} ({disk / 1e6:.0f} MB of Parquet) in {generated:.0f} s under {out}", file=sys.stderr)

    html = work / "report.html"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pipeline.cli", "report", str(out), "-o", str(html)], check=True)
    seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kilobytes on Linux
    figures = {"documents": args.docs, "docs_per_file": args.docs_per_file, "rows": rows, "parquet_mb": round(disk / 1e6),
               "report_seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb), "report_mb": round(html.stat().st_size / 1e6, 1)}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
