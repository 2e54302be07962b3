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
