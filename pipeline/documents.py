"""The in-memory shape of a document as it moves through the stages of one batch.

A `Document` is built by the corpus reader from one input record, travels to a
worker as plain JSON (`to_message` / `from_message`: only the input fields, never
the annotations), and is annotated in place by the stages. The Parquet sink turns
annotated documents into rows; spaCy and torch objects never leave a stage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from pipeline.errors import error_message


@dataclass
class Failure:
    """Why a record was rejected or a document failed, and where."""

    stage: str  # "read", "validate", "clean", "ner", "sentiment", "stance", ...
    error_type: str
    message: str

    @classmethod
    def of(cls, stage: str, exc: BaseException) -> Failure:
        """The failure an exception makes, its message cut to MAX_ERROR_MESSAGE characters."""
        return cls(stage, type(exc).__name__, error_message(exc))


@dataclass
class Rejected:
    """An input record that never became a document (unreadable, invalid, duplicate id...)."""

    source: str
    line: int | None
    doc_id: str | None
    failure: Failure

    def to_message(self) -> dict:
        return {
            "source": self.source,
            "line": self.line,
            "doc_id": self.doc_id,
            "stage": self.failure.stage,
            "error_type": self.failure.error_type,
            "message": self.failure.message,
        }

    @classmethod
    def from_message(cls, m: dict) -> Rejected:
        return cls(m["source"], m["line"], m["doc_id"], Failure(m["stage"], m["error_type"], m["message"]))


@dataclass
class Entity:
    text: str
    label: str
    start: int  # character offsets into Document.text
    end: int
    sentence: int  # index into Document.sentences
    target: str | None = None  # configured target this mention refers to


@dataclass
class TargetMention:
    """A span of the cleaned text that refers to a configured target."""

    target: str
    text: str
    start: int
    end: int
    sentence: int
    via: str  # "entity" (an NER entity linked to the target) or "alias" (an alias match)


@dataclass
class Sentiment:
    label: str  # negative / neutral / positive
    score: float  # signed, in [-1, 1]: P(positive) - P(negative), averaged over sentences
    confidence: float  # in [0, 1]


@dataclass
class Stance:
    target: str
    stance: str  # favor / against / neutral / not_mentioned
    score: float | None  # signed, in [-1, 1]: favor minus against
    confidence: float | None
    mentions: int
    evidence: list[str] = field(default_factory=list)  # the sentences that weighed most


@dataclass
class StanceUnit:
    """One scored unit of a document for one target: a sentence, or the whole text of a short document."""

    target: str
    sentence: int | None  # index into Document.sentences; None for the whole text
    start: int  # character offsets into Document.text
    end: int
    text: str
    stance: str  # favor / against / neutral: its most probable label, favor or against only from stance.threshold
    probs: tuple[float, float, float]  # against, neutral, favor
    holder: str  # "text", "quoted", or the party whose view the unit reports


# Fields a document carries from the reader to the worker. Annotations are not sent.
MESSAGE_FIELDS = ("doc_id", "source", "line", "raw", "is_html", "title", "url", "published_at", "outlet", "duplicate_of")


@dataclass
class Document:
    doc_id: str
    source: str  # input file the record came from
    line: int | None  # 1-based line (JSONL), row (CSV, Parquet) or None (one file per document)
    raw: str  # the text or HTML as read
    is_html: bool = False
    title: str | None = None
    url: str | None = None
    published_at: str | None = None  # ISO 8601 in UTC, normalised by the reader
    outlet: str | None = None
    duplicate_of: str | None = None  # doc_id of an earlier document with the same content

    # Set by the stages.
    text: str | None = None
    language: str | None = None
    sentences: list[tuple[int, int]] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    mentions: list[TargetMention] = field(default_factory=list)
    sentiment: Sentiment | None = None
    stances: list[Stance] = field(default_factory=list)
    stance_units: list[StanceUnit] = field(default_factory=list)
    # Model stages that left this document alone, and why (a language their model does not read).
    unscored: dict[str, str] = field(default_factory=dict)
    failure: Failure | None = None

    def to_message(self) -> dict:
        return {name: getattr(self, name) for name in MESSAGE_FIELDS}

    @classmethod
    def from_message(cls, m: dict) -> Document:
        return cls(**{name: m.get(name) for name in MESSAGE_FIELDS})

    def to_annotated(self) -> dict:
        """Everything but the raw input: how a document travels between the text and model stages."""
        data = dataclasses.asdict(self)
        del data["raw"]
        return data

    @classmethod
    def from_annotated(cls, m: dict) -> Document:
        m = dict(m)
        failure, sentiment = m.pop("failure"), m.pop("sentiment")
        return cls(
            raw="",
            **{k: v for k, v in m.items() if k not in ("sentences", "entities", "mentions", "stances", "stance_units")},
            sentences=[tuple(s) for s in m["sentences"]],
            entities=[Entity(**e) for e in m["entities"]],
            mentions=[TargetMention(**t) for t in m["mentions"]],
            stances=[Stance(**s) for s in m["stances"]],
            stance_units=[StanceUnit(**{**u, "probs": tuple(u["probs"])}) for u in m["stance_units"]],
            sentiment=Sentiment(**sentiment) if sentiment else None,
            failure=Failure(**failure) if failure else None,
        )

    def sentence_text(self, index: int) -> str:
        start, end = self.sentences[index]
        return self.text[start:end]

    def mentions_by_sentence(self) -> dict[tuple[str, int], list[tuple[int, int]]]:
        """(target, sentence index) -> the spans of that target's mentions in that sentence,
        relative to the sentence's start, in text order: the units the mention head reads."""
        out: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for m in sorted(self.mentions, key=lambda m: (m.start, m.end)):
            start = self.sentences[m.sentence][0]
            out.setdefault((m.target, m.sentence), []).append((m.start - start, m.end - start))
        return out
