"""Stance toward each configured target: each unit of text scored, then one stance per document.

Units: a short document (within the model's max_length: a tweet, a headline, a short item) is one
unit, the whole text, because the whole-text heads learned from whole tweets and a tweet's stance is
often implicit ("Slava Ukraini" names no Russia). Such a unit is scored for every target that has a
whole-text head, named or not, and for any other target it names. A long document is scored
sentence by sentence, on the sentences that name the target, by the mention head (which learned
from news sentences with the mention marked); sentences never cross paragraphs.

Each unit has a holder (pipeline.holders): the text itself, or a party whose view it reports. The
document's stance weighs the text's own statements first (`stance.holders`), and is favor or
against only when that class's mean probability reaches `stance.threshold`; otherwise neutral. A
document that never names a target and whose text says nothing for or against it is
"not_mentioned" for it, never a guess. All units of a batch go through the classifier in one call.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from pipeline.config import StanceConfig, Target
from pipeline.documents import Document, Stance, StanceUnit
from pipeline.holders import TEXT, holder
from pipeline.labels import STANCE_LABELS
from pipeline.models import load_stance
from pipeline.stages.base import LanguageGate

# Columns of the classifier's probabilities, in STANCE_LABELS order.
AGAINST, NEUTRAL, FAVOR = 0, 1, 2
NOT_MENTIONED = "not_mentioned"


def label_index(probs: np.ndarray, threshold: float) -> int:
    """The most probable label, except that favor or against must reach `threshold`, else neutral."""
    best = int(probs.argmax())
    return NEUTRAL if best != NEUTRAL and probs[best] < threshold else best


def document_stance(probs: np.ndarray, threshold: float) -> tuple[int, np.ndarray]:
    """The document's label index and mean probabilities from its units' probabilities: each unit
    weighs by its own confidence; favor or against only when its mean reaches `threshold`."""
    confidence = probs.max(axis=1)
    mean = (probs * confidence[:, None]).sum(axis=0) / confidence.sum()
    return label_index(mean, threshold), mean


def aggregate_stance(target: str, units: list[StanceUnit], mentions: int, cfg: StanceConfig) -> Stance:
    own = [u for u in units if u.holder == TEXT]
    deciding = own if cfg.holders == "own_first" and own else units
    probs = np.array([u.probs for u in deciding], dtype=np.float64)
    best, mean = document_stance(probs, cfg.threshold)
    if mentions == 0 and best == NEUTRAL:
        # Read whole without naming the target, and nothing for or against it: not a stance.
        return Stance(target, NOT_MENTIONED, None, None, 0)
    # The units that speak most strongly for the chosen stance.
    order = np.argsort(-probs[:, best], kind="stable")[: cfg.evidence]
    return Stance(
        target=target,
        stance=STANCE_LABELS[best],
        score=float(mean[FAVOR] - mean[AGAINST]),
        confidence=float(mean[best]),
        mentions=mentions,
        evidence=[deciding[i].text for i in order],
    )


def aggregate_document(doc: Document, targets: tuple[Target, ...], cfg: StanceConfig) -> None:
    """Labels the document's scored units and sets its stance toward every target from them."""
    units = defaultdict(list)
    for u in doc.stance_units:
        u.stance = STANCE_LABELS[label_index(np.asarray(u.probs), cfg.threshold)]
        units[u.target].append(u)
    mentions = Counter(m.target for m in doc.mentions)
    doc.stances = [
        aggregate_stance(t.name, units[t.name], mentions[t.name], cfg) if units.get(t.name)
        else Stance(t.name, NOT_MENTIONED, None, None, 0)
        for t in targets
    ]


class StanceStage:
    name = "stance"

    def __init__(self, cfg: StanceConfig, targets: tuple[Target, ...]):
        self.cfg = cfg
        self.targets = targets
        self.classifier = load_stance(cfg.model, cfg.batch_size, cfg.max_length, cfg.quantize)
        self.model_id = self.classifier.model_id
        self.gate = LanguageGate(self.name, cfg.languages)
        self.whole_text_targets = {t.name for t in targets if self.classifier.reads_whole_text(t.name)}

    def process(self, docs: list[Document]) -> list[Document]:
        self._score(self.gate.admit(docs))
        return docs

    def units(self, doc: Document) -> list[tuple[str, int | None, int, int, list[tuple[int, int]]]]:
        """(target, sentence or None, start, end, mention spans relative to start) of every unit to score."""
        whole = self.cfg.whole_short_texts and bool(doc.text) and self.classifier.fits(doc.text)
        if whole:
            out = []
            for target in self.targets:
                spans = sorted((m.start, m.end) for m in doc.mentions if m.target == target.name)
                if spans or target.name in self.whole_text_targets:
                    out.append((target.name, None, 0, len(doc.text), spans))
            return out
        by_sentence = sorted(doc.mentions_by_sentence().items(), key=lambda kv: kv[0][1])
        return [
            (target.name, s, *doc.sentences[s], spans)
            for target in self.targets
            for (name, s), spans in by_sentence
            if name == target.name
        ]

    def _score(self, docs: list[Document]) -> None:
        planned = [(d, unit) for d, doc in enumerate(docs) for unit in self.units(doc)]
        items = [(target, docs[d].text[start:end], spans) for d, (target, _, start, end, spans) in planned]
        whole = [sentence is None for _, (_, sentence, _, _, _) in planned]
        probs = self.classifier.predict(items, whole) if items else np.zeros((0, 3))
        for doc in docs:
            doc.stance_units = []
        for (d, (target, sentence, start, end, spans)), (_, text, _), p in zip(planned, items, probs):
            docs[d].stance_units.append(StanceUnit(
                target=target, sentence=sentence, start=start, end=end, text=text,
                stance="", probs=tuple(float(x) for x in p), holder=holder(text, spans),
            ))
        for doc in docs:
            aggregate_document(doc, self.targets, self.cfg)
