"""Compaction: a job's staged part files become a few large files, deterministically."""

from __future__ import annotations

import os

import pandas as pd
import pyarrow.parquet as pq

from pipeline.io import parquet
from pipeline.io.parquet import batch_rows, commit_batch, compact_job, compaction_plan, remove_staging, staging_dir
from pipeline.schemas import TABLES
from tests.unit.test_parquet import MODELS, NOW, processed_doc, rejected


def test_the_plan_groups_consecutive_batches_by_input_size(monkeypatch):
    monkeypatch.setattr(parquet, "FILE_INPUT_CHARS", 100)
    assert compaction_plan({0: 60, 1: 60, 2: 10, 3: 200, 4: 5}) == [[0, 1], [2, 3], [4]]
    assert compaction_plan({3: 1, 1: 1, 2: 1}) == [[1, 2, 3]]  # in batch order, whatever the order given
    assert compaction_plan({0: 500}) == [[0]]


def stage_job(out, job: str, batches: int) -> dict[int, int]:
    """Commits `batches` batches of one document each (ids d<batch>) into the job's staging root."""
    for b in range(batches):
        doc = processed_doc()
        doc.doc_id = f"d{b}"
        rows = batch_rows([doc] if b % 3 else [], [rejected()], b, NOW, "0.1.0", MODELS)
        commit_batch(staging_dir(out, job), job, b, rows, {"job_id": job})
    return {b: 40 for b in range(batches)}


def test_compaction_merges_the_parts_in_batch_order_and_is_repeatable(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "FILE_INPUT_CHARS", 200)  # five batches of 40 characters per file
    monkeypatch.setattr(parquet, "ROW_GROUP_BYTES", 1)  # a row group per part: several groups per file
    out = str(tmp_path)
    sizes = stage_job(out, "job-1", 12)
    files = compact_job(out, "job-1", sizes)
    names = ["part-000000-000004.parquet", "part-000005-000009.parquet", "part-000010-000011.parquet"]
    assert files == {t: [f"{t}/job_id=job-1/{n}" for n in names] for t in TABLES}
    for table in TABLES:
        assert sorted(os.listdir(tmp_path / table / "job_id=job-1")) == names, table
    docs = pd.read_parquet(tmp_path / "documents")
    assert list(docs["doc_id"]) == [f"d{b}" for b in range(12) if b % 3] and set(docs["job_id"]) == {"job-1"}
    assert len(pd.read_parquet(tmp_path / "failures")) == 12
    first = pq.ParquetFile(tmp_path / "documents" / "job_id=job-1" / names[0])
    assert first.metadata.num_row_groups == 3 and first.schema_arrow.metadata[b"job_id"] == b"job-1"
    # Batches 0, 3, 6, 9 have no document: still every file has the table's schema.
    assert pq.read_schema(tmp_path / "documents" / "job_id=job-1" / names[2]).names == TABLES["documents"].names

    before = {n: (tmp_path / "entities" / "job_id=job-1" / n).read_bytes() for n in names}
    assert compact_job(out, "job-1", sizes) == files  # a finalize that runs again
    assert {n: (tmp_path / "entities" / "job_id=job-1" / n).read_bytes() for n in names} == before

    remove_staging(out, "job-1")
    remove_staging(out, "job-1")
    assert sorted(os.listdir(tmp_path)) == sorted([*TABLES, "_parts"]) and os.listdir(tmp_path / "_parts") == []


def test_a_batch_committed_after_compaction_stays_out_of_sight(tmp_path):
    out = str(tmp_path)
    sizes = stage_job(out, "job-1", 3)
    compact_job(out, "job-1", sizes)
    remove_staging(out, "job-1")
    stage_job(out, "job-1", 1)  # a late redelivery of batch 0
    assert len(pd.read_parquet(tmp_path / "failures")) == 3
    assert os.listdir(tmp_path / "failures" / "job_id=job-1") == ["part-000000-000002.parquet"]
