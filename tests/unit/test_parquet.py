"""The Parquet sink: rows from annotated documents, declared schemas, atomic and idempotent commits."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.documents import Document, Entity, Failure, Rejected, Sentiment, Stance, StanceUnit
from pipeline.io.parquet import batch_rows, commit_batch, part_name, partition_dir
from pipeline.schemas import SCHEMA_VERSION, TABLES

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
MODELS = {"sentiment": "sent-model v1 abc", "stance": "stance-model v1 def"}


def processed_doc() -> Document:
    text = "NATO met. Russia objected."
    doc = Document(doc_id="d1", source="in.jsonl", line=1, raw=text, title="T", url="https://u", outlet="O",
                   published_at="2024-04-30T22:00:00+00:00", duplicate_of=None)
    doc.text = text
    doc.language = "en"
    doc.sentences = [(0, 9), (10, 26)]
    doc.entities = [Entity("NATO", "ORG", 0, 4, 0, "NATO"), Entity("Russia", "GPE", 10, 16, 1, "Russia")]
    doc.sentiment = Sentiment("negative", -0.25, 0.5)
    doc.stances = [Stance("NATO", "neutral", 0.0, 0.6, 1, ["NATO met."]), Stance("Ukraine", "not_mentioned", None, None, 0)]
    doc.stance_units = [StanceUnit("NATO", 0, 0, 9, "NATO met.", "neutral", (0.2, 0.6, 0.2), "text")]
    return doc


def failed_doc() -> Document:
    doc = Document(doc_id="d2", source="in.jsonl", line=2, raw="x")
    doc.failure = Failure("clean", "EmptyText", "empty after cleaning")
    return doc


def rejected() -> Rejected:
    return Rejected("in.jsonl", 3, None, Failure("read", "InvalidJSON", "invalid JSON"))


def rows_of_example() -> dict:
    return batch_rows([processed_doc(), failed_doc()], [rejected()], 4, NOW, "0.1.0", MODELS)


def test_part_name_and_partition_dir(tmp_path):
    assert part_name(7) == "part-000007.parquet"
    assert partition_dir(tmp_path, "documents", "job-1") == tmp_path / "documents" / "job_id=job-1"


def test_batch_rows():
    rows = rows_of_example()
    assert {k: len(v) for k, v in rows.items()} == {"documents": 1, "entities": 2, "stances": 2, "stance_sentences": 1, "failures": 2}
    doc = rows["documents"][0]
    assert (doc["n_chars"], doc["n_words"], doc["n_sentences"], doc["n_entities"]) == (26, 4, 2, 2)
    assert doc["published_at"] == dt.datetime(2024, 4, 30, 22, tzinfo=dt.timezone.utc)
    assert (doc["sentiment_label"], doc["sentiment_score"], doc["sentiment_model"]) == ("negative", -0.25, "sent-model v1 abc")
    assert (doc["batch"], doc["processed_at"], doc["pipeline_version"]) == (4, NOW, "0.1.0")
    # Rejected records first, then failed documents.
    assert [(f["doc_id"], f["stage"], f["error_type"], f["line"]) for f in rows["failures"]] == [
        (None, "read", "InvalidJSON", 3), ("d2", "clean", "EmptyText", 2)]
    assert rows["stances"][1] == {"doc_id": "d1", "target": "Ukraine", "stance": "not_mentioned", "score": None,
                                  "confidence": None, "mentions": 0, "evidence": [], "stance_model": "stance-model v1 def"}
    assert rows["entities"][1] == {"doc_id": "d1", "sentence": 1, "start": 10, "end": 16, "text": "Russia", "label": "GPE",
                                   "target": "Russia"}
    assert rows["stance_sentences"] == [{"doc_id": "d1", "target": "NATO", "sentence": 0, "start": 0, "end": 9, "text": "NATO met.",
                                         "stance": "neutral", "p_against": 0.2, "p_neutral": 0.6, "p_favor": 0.2, "holder": "text"}]


def test_document_without_sentiment_has_null_columns():
    doc = processed_doc()
    doc.sentiment = None
    row = batch_rows([doc], [], 0, NOW, "v", {})["documents"][0]
    assert (row["sentiment_label"], row["sentiment_score"], row["sentiment_confidence"], row["sentiment_model"]) == (None,) * 4


def read_file(tmp_path, table: str, job: str = "job-1", batch: int = 4):
    return pq.read_table(partition_dir(tmp_path, table, job) / part_name(batch))


def test_commit_writes_declared_schema_and_metadata(tmp_path):
    counts = commit_batch(tmp_path, "job-1", 4, rows_of_example(), {"job_id": "job-1", "models": {"a": "b"}})
    assert counts == {"documents": 1, "entities": 2, "stances": 2, "stance_sentences": 1, "failures": 2}
    for name, schema in TABLES.items():
        table = read_file(tmp_path, name)
        assert table.schema.remove_metadata() == schema.remove_metadata(), name
        meta = table.schema.metadata
        assert meta[b"schema_version"] == SCHEMA_VERSION.encode()
        assert meta[b"job_id"] == b"job-1"
        assert meta[b"models"] == b'{"a": "b"}'
    docs = read_file(tmp_path, "documents").to_pylist()
    assert docs[0]["doc_id"] == "d1" and docs[0]["published_at"] == dt.datetime(2024, 4, 30, 22, tzinfo=dt.timezone.utc)
    assert read_file(tmp_path, "stances").to_pylist()[0]["evidence"] == ["NATO met."]


def test_second_commit_replaces_the_file(tmp_path):
    rows = rows_of_example()
    commit_batch(tmp_path, "job-1", 4, rows, {})
    first = {name: read_file(tmp_path, name).to_pylist() for name in TABLES}
    commit_batch(tmp_path, "job-1", 4, rows, {})
    for name in TABLES:
        folder = partition_dir(tmp_path, name, "job-1")
        assert sorted(os.listdir(folder)) == ["part-000004.parquet"]  # one file, no temporaries
        assert read_file(tmp_path, name).to_pylist() == first[name]
    # The dataset as a whole has the rows once.
    assert len(pd.read_parquet(tmp_path / "entities")) == 2


def test_no_temporary_files_left_and_other_batches_kept(tmp_path):
    commit_batch(tmp_path, "job-1", 0, rows_of_example(), {})
    commit_batch(tmp_path, "job-1", 1, batch_rows([], [rejected()], 1, NOW, "v", {}), {})
    all_files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert all_files == [f"{t}/job_id=job-1/part-00000{b}.parquet" for t in sorted(TABLES) for b in (0, 1)]
    assert len(pd.read_parquet(tmp_path / "failures")) == 3


def test_failed_write_leaves_no_file(tmp_path):
    rows = rows_of_example()
    rows["documents"][0]["n_chars"] = "not a number"  # a drifting type fails loudly
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        commit_batch(tmp_path, "job-1", 4, rows, {})
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_interrupted_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    import pipeline.io.parquet as sink

    commit_batch(tmp_path, "job-1", 4, rows_of_example(), {})
    final = partition_dir(tmp_path, "documents", "job-1") / part_name(4)
    before = final.read_bytes()

    def broken_write(table, fh, **kwargs):
        fh.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(sink.pq, "write_table", broken_write)
    with pytest.raises(OSError, match="disk full"):
        commit_batch(tmp_path, "job-1", 4, rows_of_example(), {})
    assert final.read_bytes() == before
    assert os.listdir(final.parent) == [final.name]


def test_empty_batch_writes_readable_files(tmp_path):
    counts = commit_batch(tmp_path, "job-1", 0, batch_rows([], [], 0, NOW, "v", {}), {})
    assert counts == {name: 0 for name in TABLES}
    for name, schema in TABLES.items():
        path = partition_dir(tmp_path, name, "job-1") / part_name(0)
        assert path.is_file()
        frame = pd.read_parquet(path)
        assert len(frame) == 0
        assert list(frame.columns) == schema.names
        assert pq.read_schema(path).remove_metadata() == schema.remove_metadata()
    # Read as a dataset, the partition column comes from the folder name.
    assert "job_id" in pd.read_parquet(tmp_path / "documents").columns


def test_output_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        commit_batch(tmp_path, "job-1", 0, batch_rows([], [], 0, NOW, "v", {}), {})
    finally:
        os.umask(old)
    path = partition_dir(tmp_path, "documents", "job-1") / part_name(0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_remove_temp_files(tmp_path):
    from pipeline.io.parquet import remove_temp_files

    commit_batch(tmp_path, "job-1", 0, batch_rows([], [], 0, NOW, "v", {}), {})
    folder = partition_dir(tmp_path, "entities", "job-1")
    (folder / ".part-000001.parquet.k2j3h4.tmp").write_bytes(b"half")
    (partition_dir(tmp_path, "failures", "job-1") / ".part-000000.parquet.zz.tmp").write_bytes(b"half")
    other_job = partition_dir(tmp_path, "entities", "job-2")
    other_job.mkdir(parents=True)
    (other_job / ".part-000001.parquet.x.tmp").write_bytes(b"another job's writer")
    assert remove_temp_files(tmp_path, "job-1") == 2
    assert sorted(os.listdir(folder)) == ["part-000000.parquet"]
    assert os.listdir(other_job) == [".part-000001.parquet.x.tmp"]
    assert remove_temp_files(tmp_path, "job-1") == 0
