"""What every stage looks like, and the one place where a failing document is isolated."""

from __future__ import annotations

import logging
import time
from typing import Protocol

from pipeline.documents import Document, Failure

log = logging.getLogger(__name__)

class Stage(Protocol):
    """A batch step: annotates the documents in place and returns them.

    A stage must not drop, reorder or duplicate documents. It may raise; `run_stages`
    then retries it one document at a time to find the documents that make it fail.
    """

    name: str

    def process(self, docs: list[Document]) -> list[Document]: ...


def run_stages(stages: list[Stage], docs: list[Document]) -> dict[str, float]:
    """Runs the stages over the documents; returns seconds spent per stage.

    A document that makes a stage raise gets a `failure` and is skipped by later stages;
    the rest of the batch goes on. Only `Exception` is caught: a `MemoryError` or a signal
    still ends the task, and the broker redelivers the batch.
    """
    seconds: dict[str, float] = {}
    for stage in stages:
        active = [d for d in docs if d.failure is None]
        started = time.perf_counter()
        if active:
            try:
                stage.process(active)
            except Exception:
                log.warning("stage %s failed on a batch of %d; isolating the failing documents", stage.name, len(active))
                for doc in active:
                    try:
                        stage.process([doc])
                    except Exception as exc:  # noqa: BLE001 - the point is to record any error
                        doc.failure = Failure.of(stage.name, exc)
        seconds[stage.name] = time.perf_counter() - started
    return seconds


class LanguageGate:
    """Which documents a model stage scores: those in a language its model reads. The others are
    left unscored with the reason, never given a guess from a model that cannot read them."""

    def __init__(self, stage: str, languages: str):
        self.stage = stage
        self.languages = frozenset(code for code in languages.split(",") if code)

    def admit(self, docs: list[Document]) -> list[Document]:
        if not self.languages:
            return docs
        admitted = []
        for doc in docs:
            # Undetected (detection off, or too little text to tell): scored, as before detection existed.
            if doc.language is None or doc.language in self.languages:
                admitted.append(doc)
            else:
                doc.unscored[self.stage] = f"language {doc.language}; the {self.stage} model reads {','.join(sorted(self.languages))}"
        return admitted
