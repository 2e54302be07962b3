"""The model stages on their own queue: one worker for text stages, another for the models."""

from __future__ import annotations

import pandas as pd

from pipeline.jobs import JobState
from tests.integration.conftest import assert_exact, make_corpus, start_workers, submit, wait_finished


def test_models_queue_split(tmp_path, broker):
    config = tmp_path / "split.yaml"
    config.write_text("routing:\n  models_queue: models\nbatching:\n  max_docs: 4\n")
    corpus = make_corpus(tmp_path / "in.jsonl", 16)
    out = tmp_path / "out"
    text = start_workers(broker, tmp_path, str(config), name="text", queues="batches")
    models = start_workers(broker, tmp_path, str(config), name="models", queues="models")
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
