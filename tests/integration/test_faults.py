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
from pipeline.local import EmbeddedRedis
from tests.conftest import ROOT, write_jsonl
from tests.integration.conftest import (
    assert_exact, fault_config, freeze_with_batch_in_flight, make_corpus, read_back, start_workers, submit, unacked,
    wait_finished, wait_for,
)

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
    assert parts == ["part-000000-000011.parquet"]  # the twelve batches, compacted


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
    assert fails.loc["one-word", "stage"] == "clean" and fails.loc["one-word", "error_type"] == "TooLong"
    assert fails.loc["emoji", "stage"] == "clean" and fails.loc["control", "stage"] == "clean"
    assert fails.loc["empty.html", "error_type"] == "EmptyText"
    assert fails.loc["junk.txt", "error_type"] == "UndecodableBytes"
    assert len(fails) == 6 and fails["message"].str.len().gt(0).all()


def test_a_permanent_os_error_fails_the_batch_at_once(tmp_path, broker):
    """A file where the staging folder should be will not heal with time: no retries, the reason shown."""
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 4)
    out = tmp_path / "out"
    out.mkdir()
    (out / "_parts").write_text("a file where the folder of the batches' parts should be")
    state = JobState.from_url(broker.url)
    workers = start_workers(broker, tmp_path, config)
    try:
        submit(broker, [str(corpus)], out, "permanent-1", config)
        wait_for(lambda: state.failed_batches("permanent-1"), timeout=60, what="the batch to fail")
    finally:
        workers.stop()
    assert "Retry in" not in (tmp_path / "w.log").read_text()
    error = state.failed_batches("permanent-1")[0]
    assert error.startswith(("NotADirectoryError", "FileExistsError")), error
    assert not state.finished_at("permanent-1")


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs: room for the output folder, not for a batch's Parquet files."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_retried_a_bounded_number_of_times_and_named(tmp_path, broker, full_disk):
    config = fault_config(tmp_path)
    corpus = write_jsonl(tmp_path / "in.jsonl", [{"id": f"big{i}", "text": os.urandom(20_000).hex()} for i in range(4)])
    state = JobState.from_url(broker.url)
    workers = start_workers(broker, tmp_path, config)
    try:
        submit(broker, [str(corpus)], full_disk / "out", "full-1", config)
        wait_for(lambda: state.failed_batches("full-1"), timeout=120, what="the batch to give up")
    finally:
        workers.stop()
    assert (tmp_path / "w.log").read_text().count("Retry in") == 3  # the default worker.max_retries
    assert "No space left on device" in state.failed_batches("full-1")[0]


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
    broker.stop()  # only releases the data folder's lock, as the death of a `run` process would

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


def test_a_batch_delivered_after_its_job_finished_is_skipped(tmp_path, broker):
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 8)
    out = tmp_path / "out"
    state = JobState.from_url(broker.url)
    workers = start_workers(broker, tmp_path, config)
    try:
        submit(broker, [str(corpus)], out, "late-1", config)
        wait_finished(state, "late-1", timeout=120)
        from workers import tasks
        from workers.app import configure

        configure(broker.url)
        tasks.send_batch("late-1", 0, {"docs": [], "rejected": []})  # as a late redelivery would arrive
        log = tmp_path / "w.log"
        wait_for(lambda: "batch 0 of job late-1 skipped: the job is finished" in log.read_text(), what="the skip")
    finally:
        workers.stop()
    assert not (out / "_parts" / "late-1").exists()
    assert_exact(out, "late-1", 8)
