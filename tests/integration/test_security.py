"""Hostile messages and secrets: nothing unpickled, no password in logs, status or manifests."""

from __future__ import annotations

import json

import pytest

from pipeline.config import OUTPUT_ROOT_ENV
from pipeline.jobs import JobState
from pipeline.local import EmbeddedRedis
from tests.integration.conftest import cli, fault_config, make_corpus, start_workers, submit, wait_finished, wait_for


class Exploit:
    """Unpickling this would create a file: proof that a worker executed pickled code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_messages_are_refused(tmp_path, broker):
    config = fault_config(tmp_path)
    marker = tmp_path / "pwned"
    workers = start_workers(broker, tmp_path, config)
    try:
        from workers.app import configure
        from workers import tasks

        configure(broker.url)
        tasks.process_batch.apply_async(("x", 0, {"docs": Exploit(marker)}), serializer="pickle")
        log = tmp_path / "w.log"
        wait_for(lambda: log.exists() and "untrusted content" in log.read_text(), timeout=60, what="the refusal")
    finally:
        workers.stop()
    assert not marker.exists()


def test_broker_password_never_shows(tmp_path):
    secret = "s3cr3t-Pa55-word"
    server = EmbeddedRedis(tmp_path / "broker", password=secret).start()
    config = fault_config(tmp_path)
    corpus = make_corpus(tmp_path / "in.jsonl", 8)
    out = tmp_path / "out"
    workers = start_workers(server, tmp_path, config)
    try:
        sub = submit(server, [str(corpus)], out, "secret-1", config)
        wait_finished(JobState.from_url(server.url), "secret-1", timeout=120)
        status = cli("status", "secret-1", "--broker", server.url)
        bad = cli("status", "secret-1", "--broker", server.url.replace(secret, "wrong-" + secret))
    finally:
        workers.stop()
        server.stop()
    assert status.returncode == 0 and bad.returncode == 2
    assert bad.stderr.startswith("error: broker:") and "password" in bad.stderr.lower()
    texts = [sub.stdout, sub.stderr, status.stdout, status.stderr, bad.stdout, bad.stderr,
             (tmp_path / "w.log").read_text(), (out / "_jobs" / "secret-1.json").read_text()]
    assert all(secret not in t for t in texts)
    assert json.loads(status.stdout)["state"] == "finished"


def test_worker_refuses_output_outside_its_root(tmp_path, broker, monkeypatch):
    config = fault_config(tmp_path)
    monkeypatch.setenv(OUTPUT_ROOT_ENV, str(tmp_path / "allowed"))
    workers = start_workers(broker, tmp_path, config)
    state = JobState.from_url(broker.url)
    try:
        submit(broker, [str(make_corpus(tmp_path / "in.jsonl", 4))], tmp_path / "elsewhere", "escape-1", config)
        wait_for(lambda: state.failed_batches("escape-1"), timeout=60, what="the refusal")
    finally:
        workers.stop()
    assert f"outside {OUTPUT_ROOT_ENV}" in state.failed_batches("escape-1")[0]
    assert not (tmp_path / "elsewhere" / "documents").exists()


@pytest.mark.parametrize("job", ["../up", "a/b", ".hidden", "x" * 200, "a..b"])
def test_job_ids_cannot_escape_the_output(tmp_path, broker, job):
    corpus = make_corpus(tmp_path / "in.jsonl", 2)
    result = cli("submit", str(corpus), "--out", str(tmp_path / "out"), "--job", job, "--broker", broker.url)
    assert result.returncode == 2 and result.stderr.startswith("error: invalid job id")
    assert not (tmp_path / "out").exists()

