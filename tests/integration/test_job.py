"""Whole jobs through a real redis-server and real Celery worker processes, read back with pandas."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.io.readers import content_id
from pipeline.schemas import SCHEMA_VERSION, TABLES
from tests.conftest import ROOT
from tests.integration import corpus
from tests.integration.conftest import cli, wait_finished

JOB_CONFIG = str(ROOT / "tests" / "integration" / "job.yaml")


@pytest.fixture(scope="module")
def finished_job(tmp_path_factory, redis_server, worker):
    root = tmp_path_factory.mktemp("mixed")
    expected = corpus.build(root / "in")
    out = root / "out"
    result = cli("submit", *expected["inputs"], "--out", str(out), "--job", "mixed-1", "--config", JOB_CONFIG,
                 "--broker", redis_server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mixed-1"
    from pipeline.jobs import JobState

    summary = wait_finished(JobState.from_url(redis_server.url), "mixed-1")
    return expected, out, summary


def test_every_record_lands_exactly_once(finished_job):
    expected, out, summary = finished_job
    docs = pd.read_parquet(out / "documents")
    failures = pd.read_parquet(out / "failures")
    good = expected["good_ids"] + [content_id(expected["content_id_text"])]
    assert sorted(docs["doc_id"]) == sorted(good)
    got = [((None if pd.isna(r.doc_id) else r.doc_id), r.stage, r.error_type) for r in failures.itertuples()]
    assert sorted(got, key=str) == expected["failures"]
    assert summary["records_done"] == len(good) + len(expected["failures"])
    assert summary["rows"]["documents"] == len(good)


def test_documents_are_annotated(finished_job):
    _, out, _ = finished_job
    docs = pd.read_parquet(out / "documents").set_index("doc_id")
    j1 = docs.loc["j1"]
    assert j1["title"] == "Sanctions" and j1["outlet"] == "Wire"
    assert j1["published_at"] == pd.Timestamp("2022-03-01T08:00:00Z")
    assert j1["language"] == "en" and j1["n_sentences"] == 2 and j1["n_entities"] >= 4
    assert docs.loc["j6", "language"] == "de"
    assert docs.loc["j7", "duplicate_of"] == "j1" and pd.isna(j1["duplicate_of"])
    assert docs.loc["4", "line"] == 4 and docs.loc["c1", "line"] == 2
    # HTML: the article body is kept, the boilerplate and markup are not.
    h1 = docs.loc["h1.html"]
    assert "Stoltenberg" in h1["text"] and "cookies" not in h1["text"] and "<p>" not in h1["text"]
    assert h1["title"] == "NATO boosts eastern flank"
    # The German article keeps its text and language, and gets no sentiment from an English model.
    assert pd.isna(docs.loc["j6", "sentiment_label"]) and docs.loc["j6", "unscored_reason"] == (
        "sentiment: language de; the sentiment model reads en; stance: language de; the stance model reads en")
    english = docs.drop(index="j6")
    assert english["unscored_reason"].isna().all()
    assert set(english["sentiment_label"]) <= {"negative", "neutral", "positive"}
    assert english["sentiment_score"].between(-1, 1).all() and english["sentiment_confidence"].between(0, 1).all()
    assert docs["sentiment_model"].notna().all()
    assert (docs["processed_at"].dt.tz is not None) and str(docs["published_at"].dt.tz) == "UTC"


def test_entities_link_targets_with_offsets(finished_job):
    _, out, _ = finished_job
    docs = pd.read_parquet(out / "documents").set_index("doc_id")
    ents = pd.read_parquet(out / "entities")
    j1 = ents[ents["doc_id"] == "j1"]
    text = docs.loc["j1", "text"]
    for e in j1.itertuples():
        assert text[e.start : e.end] == e.text
    linked = dict(zip(j1["text"], j1["target"]))
    assert linked["NATO"] == "NATO" and linked["Russia"] == "Russia" and linked["Ukraine"] == "Ukraine"
    assert linked["Kremlin"] == "Russia"
    assert set(j1[j1["text"] == "Kremlin"]["sentence"]) == {1}


def test_stances_one_row_per_document_and_target(finished_job):
    _, out, _ = finished_job
    stances = pd.read_parquet(out / "stances")
    docs = pd.read_parquet(out / "documents")
    # One row per scored document and target: the German article has none.
    assert len(stances) == 3 * (len(docs) - 1) and "j6" not in set(stances["doc_id"])
    by = stances.set_index(["doc_id", "target"])
    assert by.loc[("j3", "Russia"), "stance"] == "not_mentioned" and by.loc[("j3", "Russia"), "mentions"] == 0
    j1 = by.loc[("j1", "Russia")]
    assert j1["stance"] in {"against", "neutral", "favor"} and j1["mentions"] == 3
    assert 1 <= len(j1["evidence"]) <= 3 and -1 <= j1["score"] <= 1
    assert stances["stance_model"].notna().all()


def test_files_schemas_and_manifest(finished_job):
    _, out, summary = finished_job
    for name, schema in TABLES.items():
        files = sorted((out / name / "job_id=mixed-1").iterdir())
        # The batches' parts, compacted when the job finished: one file for a job this small.
        assert [f.name for f in files] == [f"part-000000-{summary['batches_total'] - 1:06d}.parquet"]
        written = pq.read_schema(files[0])
        assert written.remove_metadata() == schema.remove_metadata()
        assert written.metadata[b"schema_version"] == SCHEMA_VERSION.encode()
    manifest = json.loads((out / "_jobs" / "mixed-1.json").read_text())
    assert manifest["rows"] == summary["rows"] and manifest["batches"] == summary["batches_total"] > 1
    assert manifest["records"] == summary["records_done"]
    assert manifest["unscored_documents"] == 1  # the German article
    assert {"spacy", "transformers", "torch", "pipeline"} <= set(manifest["versions"])
    assert manifest["models"]["sentiment"].startswith("minilm-sentiment ") and manifest["models"]["ner"]
    assert manifest["tiers"] == {"sentiment": "builtin", "stance": "builtin"}
    assert manifest["config"]["batching"]["max_docs"] == 4
    assert manifest["files"] == {name: [f"{name}/job_id=mixed-1/{files[0].name}"] for name in TABLES}
    assert not (out / "_parts" / "mixed-1").exists()


def test_other_readers_open_the_output(finished_job):
    duckdb = pytest.importorskip("duckdb")
    polars = pytest.importorskip("polars")
    _, out, summary = finished_job
    n = duckdb.sql(f"select count(*) from read_parquet('{out}/documents/**/*.parquet', hive_partitioning=true)").fetchall()[0][0]
    assert n == summary["rows"]["documents"]
    assert polars.read_parquet(out / "documents", hive_partitioning=True).height == n


def test_status_and_summary_commands(finished_job, redis_server):
    _, out, summary = finished_job
    result = cli("status", "mixed-1", "--broker", redis_server.url)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["state"] == "finished" and status["batches_done"] == summary["batches_total"]
    result = cli("summary", str(out))
    assert result.returncode == 0, result.stderr
    assert "stance per target" in result.stdout and "DuplicateId" in result.stdout


def test_resubmitting_a_finished_job_changes_nothing(finished_job, redis_server):
    expected, out, summary = finished_job
    before = {p: p.stat().st_mtime_ns for p in out.rglob("part-*.parquet")}
    result = cli("submit", *expected["inputs"], "--out", str(out), "--job", "mixed-1", "--config", JOB_CONFIG,
                 "--broker", redis_server.url)
    assert result.returncode == 0, result.stderr
    assert "0 batches enqueued" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("part-*.parquet")} == before


def test_resubmitting_with_other_config_is_refused(finished_job, redis_server, tmp_path):
    expected, out, _ = finished_job
    result = cli("submit", *expected["inputs"], "--out", str(out), "--job", "mixed-1", "--broker", redis_server.url)
    assert result.returncode == 2
    assert result.stderr.startswith("error: job 'mixed-1' already exists") and "Traceback" not in result.stderr
