"""Helpers for every test. Those that start a redis-server, Celery workers or subprocesses live
in tests/integration/conftest.py; tests/unit needs none of them."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


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

    from pipeline_train.data import base_encoder_path

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
