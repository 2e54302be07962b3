"""Stance toward each configured target, from the sentences that mention it.

A document that never mentions a target gets "not_mentioned" for it rather than a guess.
All (sentence, target) pairs of the batch go through the classifier in one call.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from pipeline.config import StanceConfig, Target
from pipeline.documents import Document, Stance
from pipeline.labels import STANCE_LABELS
from pipeline.models import load_stance
from pipeline.stages.base import LanguageGate

# Columns of the classifier's probabilities, in STANCE_LABELS order.
AGAINST, NEUTRAL, FAVOR = 0, 1, 2
NOT_MENTIONED = "not_mentioned"


def aggregate_stance(target: str, probs: np.ndarray, sentences: list[str], mentions: int, evidence: int) -> Stance:
    """Combines sentence-level stance: each sentence weighs by its own confidence."""
    confidence = probs.max(axis=1)
    mean = (probs * confidence[:, None]).sum(axis=0) / confidence.sum()
    best = int(mean.argmax())
    # The sentences that speak most strongly for the chosen stance.
    order = np.argsort(-probs[:, best], kind="stable")[:evidence]
    return Stance(
        target=target,
        stance=STANCE_LABELS[best],
        score=float(mean[FAVOR] - mean[AGAINST]),
        confidence=float(mean[best]),
        mentions=mentions,
        evidence=[sentences[i] for i in order],
    )


class StanceStage:
    name = "stance"

    def __init__(self, cfg: StanceConfig, targets: tuple[Target, ...]):
        self.cfg = cfg
        self.targets = targets
        self.classifier = load_stance(cfg.model, cfg.batch_size, cfg.max_length, cfg.quantize)
        self.model_id = self.classifier.model_id
        self.gate = LanguageGate(self.name, cfg.languages)

    def process(self, docs: list[Document]) -> list[Document]:
        self._score(self.gate.admit(docs))
        return docs

    def _score(self, docs: list[Document]) -> None:
        # One item per (document, target, sentence), with the mention spans relative to the sentence.
        items, owners = [], []
        for d, doc in enumerate(docs):
            spans = defaultdict(list)
            for m in doc.mentions:
                spans[(m.target, m.sentence)].append(m)
            for (target, s), mentions in sorted(spans.items(), key=lambda kv: (kv[0][0], kv[0][1])):
                start = doc.sentences[s][0]
                items.append((target, doc.sentence_text(s), [(m.start - start, m.end - start) for m in mentions]))
                owners.append((d, target, len(mentions)))
        probs = self.classifier.predict(items) if items else np.zeros((0, 3))

        grouped: dict[tuple[int, str], list[int]] = defaultdict(list)
        for row, (d, target, _) in enumerate(owners):
            grouped[(d, target)].append(row)
        for d, doc in enumerate(docs):
            doc.stances = []
            for target in self.targets:
                rows = grouped.get((d, target.name))
                if not rows:
                    doc.stances.append(Stance(target.name, NOT_MENTIONED, None, None, 0))
                    continue
                mentions = sum(owners[r][2] for r in rows)
                doc.stances.append(
                    aggregate_stance(target.name, probs[rows], [items[r][1] for r in rows], mentions, self.cfg.evidence)
                )
