"""Stopping on purpose: SIGTERM to a worker, Ctrl-C on `nlp-pipeline run`, and backpressure."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import psutil
import redis

from pipeline.jobs import JobState
from tests.conftest import ROOT
from tests.integration.conftest import (
    assert_exact, cli, fast_worker_settings, wait_finished, fault_config, freeze_with_batch_in_flight, make_corpus, start_workers, submit, wait_for,
)


def test_sigterm_finishes_the_running_batch(tmp_path, broker):
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out"
    state = JobState.from_url(broker.url)
    first = start_workers(broker, tmp_path, config)
    submit(broker, [str(corpus)], out, "term-1", config)
    wait_for(lambda: state.done_count("term-1") >= 1, what="a batch")
    freeze_with_batch_in_flight(first, broker)
    first.proc.send_signal(signal.SIGTERM)  # delivered as the group resumes
    os.killpg(first.proc.pid, signal.SIGCONT)
    # Warm shutdown: the batch it holds is committed (or handed back), never half-done, and it exits cleanly.
    assert first.proc.wait(timeout=60) == 0
    second = start_workers(broker, tmp_path, config, name="w2")
    try:
        wait_finished(state, "term-1", timeout=120)
    finally:
        second.stop()
    assert_exact(out, "term-1", 40)


def _processes_using(path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if any(str(path) in part for part in (p.info["cmdline"] or [])):
            found.append(p)
    return found


def test_ctrl_c_on_run_stops_everything_and_the_job_resumes(tmp_path):
    config = fault_config(tmp_path, max_in_flight=4)
    corpus = make_corpus(tmp_path / "in.jsonl", 60)
    out = tmp_path / "out"
    args = [sys.executable, "-m", "pipeline.cli", "run", str(corpus), "--out", str(out), "--job", "ctrl-c",
            "--config", config, "--workers", "1", "--quiet"]
    run = subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    port = int(re.search(r"broker redis://127.0.0.1:(\d+)", run.stderr.readline()).group(1))
    state = JobState.from_url(f"redis://127.0.0.1:{port}/0")
    wait_for(lambda: state.exists("ctrl-c") and state.done_count("ctrl-c") >= 2, what="two batches")
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=90) == 130
    assert "resume with --job ctrl-c" in run.stderr.read()
    time.sleep(0.5)
    assert _processes_using(out) == []  # no orphan redis-server or worker
    result = cli("run", str(corpus), "--out", str(out), "--job", "ctrl-c", "--config", config, "--workers", "1", "--quiet")
    assert result.returncode == 0, result.stderr
    assert_exact(out, "ctrl-c", 60)
    assert _processes_using(out) == []


def _queued_or_running(client, state, job: str) -> int:
    """Batches queued, plus those delivered and not yet committed. A committed batch stays in the
    unacked set until its acknowledgement arrives a moment later: its work is done, so it is not
    counted (read in this order, a batch moving between the sets is never counted twice)."""
    delivered = [re.search(rf"\('{job}', (\d+),", raw.decode("utf-8", "replace")) for raw in client.hvals("unacked")]
    done = state.done_batches(job) if state.exists(job) else set()
    running = sum(1 for m in delivered if m and int(m.group(1)) not in done)
    return client.llen("batches"), running


def test_backpressure_bounds_the_queue(tmp_path, broker):
    config = fault_config(tmp_path, max_in_flight=3, max_docs=2)
    corpus = make_corpus(tmp_path / "in.jsonl", 60)  # 30 batches
    out = tmp_path / "out"
    producer = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "submit", str(corpus), "--out", str(out), "--job", "bp-1",
         "--config", config, "--broker", broker.url], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    client = redis.Redis.from_url(broker.url)
    wait_for(lambda: client.llen("batches") == 3, what="three queued batches")
    time.sleep(3)  # no worker: the producer must wait, not pile up batches
    assert client.llen("batches") == 3 and producer.poll() is None
    workers = start_workers(broker, tmp_path, config)
    try:
        peak = most_running = 0
        state = JobState.from_url(broker.url)
        while producer.poll() is None:
            queued, running = _queued_or_running(client, state, "bp-1")
            peak, most_running = max(peak, queued + running), max(most_running, running)
            time.sleep(0.05)
        assert producer.returncode == 0, producer.stderr.read()
        assert peak <= 3
        assert most_running >= 1  # the running batches were seen (the unacked entries were read)
        wait_finished(JobState.from_url(broker.url), "bp-1", timeout=120)
    finally:
        workers.stop()
    assert_exact(out, "bp-1", 60)


def test_worker_command_serves_a_job_and_stops_on_sigterm(tmp_path, broker):
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 8)
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "worker", "--broker", broker.url, "--concurrency", "1",
         "--config", fast_worker_settings(tmp_path), "--preload", config],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        submit(broker, [str(corpus)], tmp_path / "out", "cmd-1", config)
        wait_finished(JobState.from_url(broker.url), "cmd-1", timeout=120)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    assert_exact(tmp_path / "out", "cmd-1", 8)


def _start_run(tmp_path, out, job):
    config = fault_config(tmp_path, max_in_flight=4)
    corpus = make_corpus(tmp_path / "in.jsonl", 60)
    args = [sys.executable, "-m", "pipeline.cli", "run", str(corpus), "--out", str(out), "--job", job,
            "--config", config, "--workers", "1", "--quiet"]
    run = subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    port = int(re.search(r"broker redis://127.0.0.1:(\d+)", run.stderr.readline()).group(1))
    state = JobState.from_url(f"redis://127.0.0.1:{port}/0")
    wait_for(lambda: state.exists(job) and state.done_count(job) >= 1, what="a batch")
    return run


def test_hangup_on_run_stops_everything(tmp_path):
    """The terminal closed: SIGHUP is handled like Ctrl-C, and no broker or worker is left running."""
    out = tmp_path / "out"
    run = _start_run(tmp_path, out, "hup")
    run.send_signal(signal.SIGHUP)
    assert run.wait(timeout=90) == 130
    time.sleep(0.5)
    assert _processes_using(out) == []


def test_a_second_ctrl_c_does_not_leave_processes_behind(tmp_path):
    out = tmp_path / "out"
    run = _start_run(tmp_path, out, "twice")
    run.send_signal(signal.SIGINT)
    time.sleep(0.3)  # the first one has started the shutdown
    run.send_signal(signal.SIGINT)
    run.wait(timeout=90)
    time.sleep(0.5)
    assert _processes_using(out) == []


def test_sigkill_of_run_takes_its_broker_and_workers_along(tmp_path):
    out = tmp_path / "out"
    run = _start_run(tmp_path, out, "killed")
    run.kill()
    run.wait()
    # They get SIGTERM from the kernel: the broker flushes its file, the worker finishes the batch in hand.
    wait_for(lambda: _processes_using(out) == [], timeout=180, what="the broker and workers to end")


def test_two_runs_into_one_output_folder(tmp_path):
    """The second would replay the first's queue from the shared broker folder: it is refused."""
    out = tmp_path / "out"
    first = _start_run(tmp_path, out, "first")
    try:
        second = cli("run", str(make_corpus(tmp_path / "other.jsonl", 4)), "--out", str(out), "--job", "second", "--quiet")
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=90)
    assert second.returncode == 2, second.stderr
    assert second.stderr.strip().splitlines()[-1].startswith(f"error: {out / '_broker'} is in use by pid {first.pid}")
