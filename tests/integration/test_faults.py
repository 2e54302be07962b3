"""Nothing lost, nothing duplicated: real processes, real signals, exact counts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import psutil
import pytest

from pipeline.jobs import JobState
from pipeline.local import EmbeddedRedis, LocalWorkers
from tests.conftest import ROOT, cli, wait_finished, write_jsonl

SUBJECTS = ["NATO", "Russia", "Ukraine", "The Kremlin", "Kyiv", "The Alliance", "Moscow", "Zelensky"]
VERBS = ["welcomed", "criticised", "discussed", "rejected", "praised", "questioned"]
OBJECTS = ["the new sanctions package", "the ceasefire proposal", "the grain export deal", "the summit in Madrid",
           "the prisoner exchange", "the energy agreement"]


def make_corpus(path, n: int):
    """n distinct short articles, ids d0000..; deterministic."""
    records = []
    for i in range(n):
        s, v, o = SUBJECTS[i % 8], VERBS[(i // 8) % 6], OBJECTS[(i // 48) % 6]
        text = (f"{s} {v} {o} on day {i} of the talks, officials said. "
                f"Diplomats in Brussels and Geneva said report number {i} would be published next week.")
        records.append({"id": f"d{i:04d}", "text": text})
    return write_jsonl(path, records)


def read_back(out, job):
    tables = {}
    for name in ("documents", "entities", "stances", "failures"):
        df = pd.read_parquet(out / name, filters=[("job_id", "=", job)])
        df = df.drop(columns=[c for c in ("processed_at", "failed_at", "job_id") if c in df])
        tables[name] = df.sort_values(list(df.columns[:2])).reset_index(drop=True)
    return tables


def assert_exact(out, job, n):
    docs = pd.read_parquet(out / "documents", filters=[("job_id", "=", job)])
    fails = pd.read_parquet(out / "failures", filters=[("job_id", "=", job)])
    assert len(docs) + len(fails) == n
    assert docs["doc_id"].is_unique and sorted(docs["doc_id"]) == [f"d{i:04d}" for i in range(n)]
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") and p.suffix == ".tmp"]
    assert leftovers == []


def fault_config(tmp_path, **batching) -> str:
    """Small batches, and a short visibility timeout so a lost batch comes back within seconds."""
    path = tmp_path / "faults.yaml"
    lines = ["worker:", "  visibility_timeout: 15", "batching:"]
    lines += [f"  {k}: {v}" for k, v in {"max_docs": 4, "max_in_flight": 50, **batching}.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def broker(tmp_path):
    server = EmbeddedRedis(tmp_path / "broker").start()
    yield server
    server.stop()


def start_workers(broker, tmp_path, config, n=1, name="w"):
    return LocalWorkers(broker.url, n, tmp_path / f"{name}.log", config=config).start()


def submit(broker, inputs, out, job, config):
    result = cli("submit", *inputs, "--out", str(out), "--job", job, "--config", config, "--broker", broker.url)
    assert result.returncode == 0, result.stderr
    return result


def wait_for(predicate, timeout=120, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def unacked(broker) -> int:
    import redis

    return redis.Redis.from_url(broker.url).hlen("unacked")


def freeze_with_batch_in_flight(workers, broker, attempts=200):
    """SIGSTOP the worker's process group at a moment it holds an unacked batch.

    Checking "a batch is in flight" and then signalling races a fast worker, which may ack it in
    between; a stopped group cannot ack, so the check holds until the caller's signal lands.
    The caller resumes the group (SIGCONT) or kills it.
    """
    for _ in range(attempts):
        os.killpg(workers.proc.pid, signal.SIGSTOP)
        time.sleep(0.05)  # an ack already written to the socket reaches Redis
        if unacked(broker) > 0:
            return
        os.killpg(workers.proc.pid, signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError("the worker never held a batch when stopped")


def test_worker_sigkill_mid_batch_is_redelivered(tmp_path, broker):
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 48)
    out = tmp_path / "out"
    state = JobState.from_url(broker.url)
    first = start_workers(broker, tmp_path, config)
    submit(broker, [str(corpus)], out, "kill-1", config)
    wait_for(lambda: state.done_count("kill-1") >= 2, what="two batches")
    freeze_with_batch_in_flight(first, broker)
    # The whole worker, main process and pool, dies at once: nothing can requeue the batch but the broker.
    os.killpg(first.proc.pid, signal.SIGKILL)
    first.proc.wait()
    killed_at = time.monotonic()
    assert unacked(broker) > 0 and not state.finished_at("kill-1")
    second = start_workers(broker, tmp_path, config, name="w2")
    try:
        wait_finished(state, "kill-1", timeout=120)
    finally:
        second.stop()
    assert time.monotonic() - killed_at < 15 + 5 + 30  # visibility timeout + a restore sweep + the work
    assert_exact(out, "kill-1", 48)
    parts = sorted(p.name for p in (out / "documents" / "job_id=kill-1").iterdir())
    assert parts == [f"part-{i:06d}.parquet" for i in range(12)]


def test_pool_process_sigkill_is_requeued_at_once(tmp_path, broker):
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out"
    state = JobState.from_url(broker.url)
    workers = start_workers(broker, tmp_path, config)
    try:
        submit(broker, [str(corpus)], out, "kill-2", config)
        wait_for(lambda: state.done_count("kill-2") >= 1, what="a batch")
        freeze_with_batch_in_flight(workers, broker)
        children = psutil.Process(workers.proc.pid).children()
        assert children
        for child in children:
            child.kill()
        os.killpg(workers.proc.pid, signal.SIGCONT)
        # The main process sees its child die and requeues the batch (task_reject_on_worker_lost).
        wait_finished(state, "kill-2", timeout=60)
    finally:
        workers.stop()
    assert_exact(out, "kill-2", 40)


def test_redis_restart_mid_job(tmp_path):
    data = tmp_path / "broker"
    broker = EmbeddedRedis(data).start()
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 48)
    out = tmp_path / "out"
    workers = start_workers(broker, tmp_path, config)
    try:
        state = JobState.from_url(broker.url)
        submit(broker, [str(corpus)], out, "redis-1", config)
        wait_for(lambda: state.done_count("redis-1") >= 2, what="two batches")
        broker.stop()  # SIGTERM: redis-server flushes its append-only file and exits
        time.sleep(2)
        broker = EmbeddedRedis(data, port=broker.port).start()
        wait_finished(state, "redis-1", timeout=120)
    finally:
        workers.stop()
        broker.stop()
    assert_exact(out, "redis-1", 48)


def test_poison_documents_become_failure_rows(tmp_path, broker):
    config = tmp_path / "poison.yaml"
    # Allow documents longer than spaCy's own limit, so that one makes the NER stage raise.
    config.write_text("input:\n  max_doc_chars: 3000000\nbatching:\n  max_docs: 8\n  max_chars: 4000000\n")
    html = tmp_path / "html"
    html.mkdir()
    (html / "empty.html").write_bytes(b"")
    (html / "junk.txt").write_bytes(bytes(range(256)) * 8)
    (html / "story.html").write_text("<html><body><article><p>NATO and Ukraine signed a new agreement on "
                                     "training, officials in Brussels said on Monday.</p></article></body></html>")
    records = [
        {"id": "ok-1", "text": "Russia and Ukraine agreed to resume grain exports through the Black Sea, the UN said."},
        {"id": "too-long-for-spacy", "text": "Moscow said the talks went well. " * 70000},
        {"id": "one-word", "text": "a" * 5_000_000},
        {"id": "emoji", "text": "🔥🔥🚀🚀😀😀🎉🎉🔥🔥🚀🚀😀😀🎉🎉🔥🔥🚀🚀😀😀🎉🎉"},
        {"id": "control", "text": "\x00\x01\x02\x03\x04\x05" * 10},
        {"id": "ok-2", "text": "The Kremlin rejected the proposal, and NATO said it would keep supporting Kyiv."},
    ]
    corpus = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    state = JobState.from_url(broker.url)
    workers = start_workers(broker, tmp_path, str(config))
    try:
        submit(broker, [str(corpus), str(html)], out, "poison-1", str(config))
        wait_finished(state, "poison-1", timeout=240)
    finally:
        workers.stop()
    docs = pd.read_parquet(out / "documents")
    fails = pd.read_parquet(out / "failures").set_index("doc_id", drop=False)
    assert sorted(docs["doc_id"]) == ["ok-1", "ok-2", "story.html"]
    assert fails.loc["too-long-for-spacy", "stage"] == "ner"
    assert fails.loc["one-word", "stage"] == "validate" and fails.loc["one-word", "error_type"] == "TooLong"
    assert fails.loc["emoji", "stage"] == "clean" and fails.loc["control", "stage"] == "clean"
    assert fails.loc["empty.html", "error_type"] == "EmptyText"
    assert fails.loc["junk.txt", "error_type"] == "UndecodableBytes"
    assert len(fails) == 6 and fails["message"].str.len().gt(0).all()


def test_failing_batch_retries_are_bounded(tmp_path, broker):
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 4)
    out = tmp_path / "out"
    out.mkdir()
    (out / "documents").write_text("a file where the dataset folder should be")
    state = JobState.from_url(broker.url)
    workers = start_workers(broker, tmp_path, config)
    try:
        submit(broker, [str(corpus)], out, "retry-1", config)
        wait_for(lambda: state.failed_batches("retry-1"), timeout=60, what="the batch to give up")
    finally:
        workers.stop()
    log = (tmp_path / "w.log").read_text()
    assert log.count("Retry in") == 3  # worker.max_retries, each with a backoff
    assert "NotADirectoryError" in state.failed_batches("retry-1")[0] or "FileExistsError" in state.failed_batches("retry-1")[0]
    assert not state.finished_at("retry-1")


def test_resume_after_killing_everything_equals_an_uninterrupted_run(tmp_path):
    config = fault_config(tmp_path, max_in_flight=4)
    corpus = make_corpus(tmp_path / "in.jsonl", 60)  # 15 batches

    def run(out, job):
        broker = EmbeddedRedis(out / "_broker").start()
        workers = start_workers(broker, tmp_path, config, name=f"{out.name}-{time.monotonic_ns()}")
        try:
            result = submit(broker, [str(corpus)], out, job, config)
            return result.stderr, wait_finished(JobState.from_url(broker.url), job, timeout=180)
        finally:
            workers.stop()
            broker.stop()

    _, reference = run(tmp_path / "ref", "same")

    # Interrupted: producer, workers and broker all killed while the job is under way.
    out = tmp_path / "resumed"
    broker = EmbeddedRedis(out / "_broker").start()
    workers = start_workers(broker, tmp_path, config, name="doomed")
    state = JobState.from_url(broker.url)
    producer = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "submit", str(corpus), "--out", str(out), "--job", "same",
         "--config", config, "--broker", broker.url], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: state.exists("same") and state.done_count("same") >= 3, what="three batches")
    producer.kill()
    os.killpg(workers.proc.pid, signal.SIGKILL)
    broker.proc.kill()
    producer.wait(), workers.proc.wait(), broker.proc.wait()

    # The same command again, same job id: committed batches are skipped.
    stderr, summary = run(out, "same")
    skipped = int(re.search(r"(\d+) already committed", stderr).group(1))
    enqueued = int(re.search(r"(\d+) batches enqueued", stderr).group(1))
    assert skipped >= 3 and enqueued == 15 - skipped
    assert summary["rows"] == reference["rows"]
    a, b = read_back(tmp_path / "ref", "same"), read_back(out, "same")
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert_exact(out, "same", 60)
