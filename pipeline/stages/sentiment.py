"""Document sentiment from its sentences, with one classifier call for the whole batch."""

from __future__ import annotations

import numpy as np

from pipeline.config import SentimentConfig
from pipeline.documents import Document, Sentiment
from pipeline.labels import SENTIMENT_LABELS
from pipeline.models import load_sentiment
from pipeline.stages.base import LanguageGate

# Columns of the classifier's probabilities, in SENTIMENT_LABELS order.
NEGATIVE, NEUTRAL, POSITIVE = 0, 1, 2


def aggregate_sentiment(probs: np.ndarray, weights: np.ndarray) -> Sentiment:
    """One document label from its sentences' probabilities, weighted by sentence length."""
    mean = (probs * weights[:, None]).sum(axis=0) / weights.sum()
    best = int(mean.argmax())
    return Sentiment(label=SENTIMENT_LABELS[best], score=float(mean[POSITIVE] - mean[NEGATIVE]), confidence=float(mean[best]))


class SentimentStage:
    name = "sentiment"

    def __init__(self, cfg: SentimentConfig):
        self.classifier = load_sentiment(cfg.model, cfg.batch_size, cfg.max_length, cfg.quantize)
        self.model_id = self.classifier.model_id
        self.gate = LanguageGate(self.name, cfg.languages)

    def process(self, docs: list[Document]) -> list[Document]:
        scored = self.gate.admit(docs)
        self._score(scored)
        return docs

    def _score(self, docs: list[Document]) -> None:
        sentences = [doc.sentence_text(i) for doc in docs for i in range(len(doc.sentences))]
        probs = self.classifier.predict(sentences) if sentences else np.zeros((0, 3))
        offset = 0
        for doc in docs:
            n = len(doc.sentences)
            if n:
                weights = np.array([end - start for start, end in doc.sentences], dtype=np.float64)
                doc.sentiment = aggregate_sentiment(probs[offset : offset + n], weights)
            offset += n
