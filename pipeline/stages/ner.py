"""Named entities and target mentions with spaCy, over the whole batch in one `nlp.pipe`."""

from __future__ import annotations

import re

from pipeline.config import NerConfig, Target
from pipeline.documents import Document, Entity
from pipeline.models import load_spacy
from pipeline.targets import TargetMatcher, sentence_index


# A blank line: cleaning keeps paragraph breaks as "\n\n" (text) or puts them there (HTML).
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def paragraph_bounded(text: str, sentences: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The sentence spans, each cut at any paragraph break inside it: a heading or a paragraph that
    ends without a full stop is never glued to the next paragraph's first sentence."""
    bounded = []
    for start, end in sentences:
        pieces, cut = [], start
        for m in _PARAGRAPH_BREAK.finditer(text, start, end):
            pieces.append((cut, m.start()))
            cut = m.end()
        pieces.append((cut, end))
        for a, b in pieces:
            stripped = text[a:b]
            a += len(stripped) - len(stripped.lstrip())
            b -= len(stripped) - len(stripped.rstrip())
            if b > a:
                bounded.append((a, b))
    return bounded


class NerStage:
    name = "ner"

    def __init__(self, cfg: NerConfig, targets: tuple[Target, ...]):
        self.cfg = cfg
        self.nlp = load_spacy(cfg.model)
        self.matcher = TargetMatcher(targets)

    def process(self, docs: list[Document]) -> list[Document]:
        # The memory zone frees the strings spaCy interns for this batch's new tokens, which
        # would otherwise stay in the shared vocabulary and grow a worker with every batch.
        # Nothing spaCy owns may leave the block: entities are copied out as plain values.
        with self.nlp.memory_zone():
            self._annotate(docs)
        return docs

    def _annotate(self, docs: list[Document]) -> None:
        spacy_docs = self.nlp.pipe((d.text for d in docs), batch_size=self.cfg.batch_size)
        for doc, sdoc in zip(docs, spacy_docs, strict=True):
            doc.sentences = paragraph_bounded(doc.text, [(s.start_char, s.end_char) for s in sdoc.sents])
            starts = [start for start, _ in doc.sentences]
            doc.entities = [
                Entity(e.text, e.label_, e.start_char, e.end_char, sentence_index(starts, e.start_char)) for e in sdoc.ents
            ]
            self.matcher.link_entities(doc.entities)
            doc.mentions = self.matcher.find(doc.text, starts, doc.entities)
