"""The model stages on their own queue: one worker for text stages, another for the models."""

from __future__ import annotations

import pandas as pd

from pipeline.jobs import JobState
from pipeline.local import LocalWorkers
from tests.conftest import wait_finished
from tests.integration.test_faults import assert_exact, broker, make_corpus, submit  # noqa: F401 - fixture


def test_models_queue_split(tmp_path, broker):
    config = tmp_path / "split.yaml"
    config.write_text("worker:\n  models_queue: models\nbatching:\n  max_docs: 4\n")
    corpus = make_corpus(tmp_path / "in.jsonl", 16)
    out = tmp_path / "out"
    text = LocalWorkers(broker.url, 1, tmp_path / "text.log", queues="batches", config=str(config)).start()
    models = LocalWorkers(broker.url, 1, tmp_path / "models.log", queues="models", config=str(config)).start()
    try:
        submit(broker, [str(corpus)], out, "split-1", str(config))
        wait_finished(JobState.from_url(broker.url), "split-1", timeout=180)
    finally:
        text.stop()
        models.stop()
    assert_exact(out, "split-1", 16)
    text_log, models_log = (tmp_path / "text.log").read_text(), (tmp_path / "models.log").read_text()
    assert text_log.count("nlp.process_batch") >= 4 and "nlp.score_batch" not in text_log
    assert models_log.count("nlp.score_batch") >= 4 and "nlp.process_batch" not in models_log
    docs = pd.read_parquet(out / "documents")
    assert docs["sentiment_label"].notna().all() and (docs["n_entities"] > 0).all()
    assert len(pd.read_parquet(out / "stances")) == 3 * 16
