"""Object storage in and out: a real S3-compatible server over HTTP (scripts/s3_server.py), real
Celery workers that share nothing but Redis and the bucket, exact counts, and no secret anywhere."""

from __future__ import annotations

import json
import os
import signal
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import OUTPUT_ROOT_ENV, load_config
from pipeline.io import storage
from pipeline.io.readers import check_inputs, read_corpus
from pipeline.jobs import JobState
from pipeline.local import LocalWorkers
from pipeline.schemas import TABLES
from pipeline.synthetic import synthetic_id
from tests.conftest import ROOT, write_jsonl
from tests.integration.conftest import (
    cli, fast_worker_settings, fault_config, freeze_with_batch_in_flight, make_corpus, unacked, wait_finished, wait_for,
)


def worker_in_own_folder(broker, tmp_path, name: str, config: str, out_root: str | None = None) -> LocalWorkers:
    """A worker process in a working directory of its own, which nothing else uses, logging outside it."""
    cwd = tmp_path / f"{name}-cwd"
    cwd.mkdir()
    env = {OUTPUT_ROOT_ENV: out_root} if out_root else {}
    return LocalWorkers(broker.url, 1, tmp_path / f"{name}.log", worker_config=fast_worker_settings(tmp_path),
                        preload=config, cwd=cwd, env=env).start()


def submit_s3(broker, inputs, out, job, config, **env):
    return cli("submit", *inputs, "--out", out, "--job", job, "--config", config, "--broker", broker.url, env=env)


def assert_exact_in_bucket(out: str, job: str, n: int):
    docs = storage.read_parquet(storage.join(out, "documents"), filters=[("job_id", "=", job)])
    fails = storage.read_parquet(storage.join(out, "failures"), filters=[("job_id", "=", job)])
    assert len(docs) + len(fails) == n
    assert docs["doc_id"].is_unique and sorted(docs["doc_id"]) == [synthetic_id(i) for i in range(n)]


def test_a_job_on_workers_that_share_only_redis_and_the_bucket(tmp_path, broker, s3_env):
    s3 = s3_env
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "producer" / "in.jsonl", 24)
    out = s3.url("shared-nothing", "out")
    state = JobState.from_url(broker.url)
    workers = [worker_in_own_folder(broker, tmp_path, f"w{i}", config, out_root=s3.url("shared-nothing")) for i in (1, 2)]
    try:
        sub = submit_s3(broker, [str(corpus)], out, "s3-1", config)
        assert sub.returncode == 0, sub.stderr
        summary = wait_finished(state, "s3-1", timeout=240)
        status = cli("status", "s3-1", "--broker", broker.url)
        described = cli("summary", out, "--job", "s3-1")
    finally:
        for w in workers:
            w.stop()
    assert summary["out"] == out and summary["rows"]["documents"] == 24
    assert_exact_in_bucket(out, "s3-1", 24)
    # Both workers took batches, and neither wrote anything into its own folder.
    logs = [(tmp_path / f"w{i}.log").read_text() for i in (1, 2)]
    assert all("nlp.process_batch" in log and "succeeded" in log for log in logs)
    assert [os.listdir(tmp_path / f"w{i}-cwd") for i in (1, 2)] == [[], []]
    assert not (ROOT / "s3:").exists()
    # Exactly one compacted file per table (six batches) and the manifest: no probe, no temporary
    # key, no staged part left.
    keys = s3.keys("shared-nothing/")
    files = [f"shared-nothing/out/{t}/job_id=s3-1/part-000000-000005.parquet" for t in TABLES]
    assert keys == sorted(files + ["shared-nothing/out/_jobs/s3-1.json"])
    manifest = json.loads(storage.read_bytes(storage.join(out, "_jobs", "s3-1.json")))
    assert manifest["out"] == out and manifest["rows"] == summary["rows"]
    assert status.returncode == 0 and json.loads(status.stdout)["out"] == out
    assert described.returncode == 0, described.stderr
    assert "rows: documents 24" in described.stdout
    # No key or secret in the logs, the status, the manifest, the job state or any file's metadata.
    metadata = [str(pq.read_schema(storage.open_input(storage.join(out, t, "job_id=s3-1", "part-000000-000005.parquet"))).metadata)
                for t in TABLES]
    import redis

    job_state = [str(redis.Redis.from_url(broker.url).hgetall(f"nlp-pipeline:job:s3-1:{k}")) for k in ("meta", "done")]
    for text in [*logs, sub.stdout, sub.stderr, status.stdout, described.stdout, json.dumps(manifest), *metadata, *job_state]:
        assert s3.secret_key not in text and s3.access_key not in text


def test_pandas_duckdb_and_polars_read_the_bucket(tmp_path, s3_env):
    """With the documented options, and nothing but the standard AWS variables in the environment."""
    import duckdb
    import polars as pl
    import s3fs

    s3 = s3_env
    out = s3.url("readers", "out")
    rows = [{"doc_id": f"d{i}", "n_words": i} for i in range(10)]
    for batch in (0, 1):
        storage.write_whole(storage.join(out, "documents", f"job_id=job-{batch}", "part-000000.parquet"),
                            lambda fh, b=batch: pq.write_table(pa.Table.from_pylist(rows[b * 5:(b + 1) * 5]), fh))
    docs = pd.read_parquet(f"{out}/documents")
    assert sorted(docs["doc_id"]) == sorted(r["doc_id"] for r in rows)
    assert len(pd.read_parquet(f"{out}/documents", filters=[("job_id", "=", "job-1")])) == 5
    con = duckdb.connect()
    con.register_filesystem(s3fs.S3FileSystem())
    n, jobs = con.sql(f"select count(*), count(distinct job_id) from read_parquet('{out}/documents/**/*.parquet', "
                      "hive_partitioning=true)").fetchall()[0]
    assert (n, jobs) == (10, 2)
    assert pl.scan_parquet(f"{out}/documents/", hive_partitioning=True).collect().height == 10


def test_a_worker_sigkilled_mid_batch_still_gives_exact_counts(tmp_path, broker, s3_env):
    s3 = s3_env
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 48)
    out = s3.url("kill", "out")
    state = JobState.from_url(broker.url)
    first = worker_in_own_folder(broker, tmp_path, "doomed", config)
    sub = submit_s3(broker, [str(corpus)], out, "s3-kill", config)
    assert sub.returncode == 0, sub.stderr
    wait_for(lambda: state.done_count("s3-kill") >= 2, what="two batches")
    freeze_with_batch_in_flight(first, broker)
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait()
    assert unacked(broker) > 0 and not state.finished_at("s3-kill")
    second = worker_in_own_folder(broker, tmp_path, "second", config)
    try:
        wait_finished(state, "s3-kill", timeout=180)
    finally:
        second.stop()
    assert_exact_in_bucket(out, "s3-kill", 48)
    assert s3.keys("kill/out/documents/") == ["kill/out/documents/job_id=s3-kill/part-000000-000011.parquet"]
    assert s3.keys("kill/out/_parts/") == []


@pytest.mark.parametrize("case", ["wrong secret", "unknown key", "no bucket", "no server there"])
def test_unusable_storage_is_one_line_and_exit_2_before_anything_is_queued(tmp_path, broker, s3_env, case):
    s3 = s3_env
    corpus = make_corpus(tmp_path / "in.jsonl", 4)
    out, env = s3.url("refused", "out"), {}
    if case == "wrong secret":
        env = {"AWS_SECRET_ACCESS_KEY": "not-the-secret-at-all"}
    elif case == "unknown key":
        env = {"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000"}
    elif case == "no bucket":
        out = "s3://no-such-bucket/out"
    else:
        from pipeline.local import free_port

        env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    started = time.monotonic()
    result = submit_s3(broker, [str(corpus)], out, "refused-1", fault_config(tmp_path), **env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot write to the output {out}: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and time.monotonic() - started < 30
    hint = {"wrong secret": "credentials", "unknown key": "credentials", "no bucket": "bucket", "no server there": "endpoint"}[case]
    assert hint in result.stderr
    assert s3.secret_key not in result.stderr and s3.access_key not in result.stderr
    assert not JobState.from_url(broker.url).exists("refused-1")


def test_s3_inputs_read_like_local_files(tmp_path, s3_env):
    """An object, and a prefix of JSONL, CSV, Parquet, .txt and .html objects, give the same records
    as the same files on disk (ids, texts, order)."""
    s3 = s3_env
    local = tmp_path / "in"
    write_jsonl(local / "a.jsonl", [{"id": "j1", "text": "Russia and Ukraine met in Istanbul."}, "{not json"])
    (local / "b.csv").write_text("id,text\nc1,NATO ministers met in Brussels.\n")
    pq.write_table(pa.table({"id": ["p1"], "text": ["Kyiv welcomed the aid."]}), local / "c.parquet")
    (local / "pages").mkdir()
    (local / "pages" / "d.txt").write_text("A plain text story about NATO.")
    (local / "pages" / "e.html").write_text("<html><body><article><p>An HTML story about Kyiv.</p></article></body></html>")
    client = s3.client()
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        client.put_object(Bucket=s3.bucket, Key=f"inputs/{path.relative_to(local).as_posix()}", Body=path.read_bytes())
    client.put_object(Bucket=s3.bucket, Key="inputs/_SUCCESS", Body=b"")
    cfg = load_config().input

    def records(paths):
        return [(getattr(r, "doc_id", None), getattr(r, "raw", None) or getattr(getattr(r, "failure", None), "error_type", None))
                for r in read_corpus(paths, cfg)]

    from_bucket = records(check_inputs([s3.url("inputs/")]))
    on_disk = records(check_inputs([str(local / n) for n in ("a.jsonl", "b.csv", "c.parquet", "pages")]))
    assert from_bucket == [(i.replace("d.txt", "pages/d.txt").replace("e.html", "pages/e.html") if i else i, t)
                           for i, t in on_disk]
    assert records(check_inputs([s3.url("inputs", "b.csv")])) == [("c1", "NATO ministers met in Brussels.")]
    with pytest.raises(Exception, match="input not found: s3://"):
        check_inputs([s3.url("inputs", "missing.jsonl")])


def test_run_into_the_bucket_keeps_its_broker_locally_and_resumes(tmp_path, s3_env, monkeypatch):
    """`run --out s3://...` writes nothing to a local folder named `s3:`; its broker lives in a local
    state folder of the URL's own, so `--job` finds the job again."""
    s3 = s3_env
    corpus = make_corpus(tmp_path / "in.jsonl", 8)
    s3.client().put_object(Bucket=s3.bucket, Key="run/in/corpus.jsonl", Body=corpus.read_bytes())
    out = s3.url("run", "out")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    args = ["run", s3.url("run", "in", "corpus.jsonl"), "--out", out, "--job", "run-1", "--workers", "1", "--quiet",
            "--config", fault_config(tmp_path)]
    first = cli(*args)
    assert first.returncode == 0, first.stderr
    assert f"output: {out}  (manifest {out}/_jobs/run-1.json)" in first.stdout
    assert not (ROOT / "s3:").exists()
    assert sorted(p.name for p in storage.local_state_dir(out).iterdir()) == ["_broker", "_logs"]
    manifest = storage.read_bytes(f"{out}/_jobs/run-1.json")
    # The same command again: the job is found finished in the local state folder, so nothing is
    # processed or written again (a fresh broker would have rerun it and rewritten the manifest).
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert "done: 8 records" in again.stdout
    assert storage.read_bytes(f"{out}/_jobs/run-1.json") == manifest
    assert_exact_in_bucket(out, "run-1", 8)


def test_resume_after_killing_everything_against_the_bucket(tmp_path, s3_env):
    """Producer, worker and broker all SIGKILLed mid-job; the same submission with the same --job
    skips the batches already staged in the bucket and ends with every record exactly once."""
    import re
    import subprocess
    import sys

    from pipeline.local import EmbeddedRedis

    s3 = s3_env
    config = fault_config(tmp_path, max_in_flight=4)
    corpus = make_corpus(tmp_path / "in.jsonl", 40)  # 10 batches
    out = s3.url("resume", "out")
    broker = EmbeddedRedis(tmp_path / "broker").start()
    doomed = worker_in_own_folder(broker, tmp_path, "doomed", config)
    state = JobState.from_url(broker.url)
    producer = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "submit", str(corpus), "--out", out, "--job", "again", "--config", config,
         "--broker", broker.url], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: state.exists("again") and state.done_count("again") >= 3, what="three batches")
    producer.kill()
    os.killpg(doomed.proc.pid, signal.SIGKILL)
    broker.proc.kill()
    producer.wait(), doomed.proc.wait(), broker.proc.wait()
    broker.stop()  # releases the data folder's lock, as the death of its owner would
    assert not storage.exists(f"{out}/_jobs/again.json")

    broker = EmbeddedRedis(tmp_path / "broker").start()
    second = worker_in_own_folder(broker, tmp_path, "second", config)
    try:
        result = submit_s3(broker, [str(corpus)], out, "again", config)
        assert result.returncode == 0, result.stderr
        wait_finished(JobState.from_url(broker.url), "again", timeout=180)
    finally:
        second.stop()
        broker.stop()
    assert int(re.search(r"(\d+) already committed", result.stderr).group(1)) >= 3
    assert_exact_in_bucket(out, "again", 40)
    assert s3.keys("resume/out/_parts/") == []
