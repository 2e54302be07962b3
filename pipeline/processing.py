"""Processing one batch end to end: the work a Celery task wraps."""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from functools import cached_property, lru_cache

from pipeline import __version__
from pipeline.config import Config
from pipeline.documents import Document, Failure, Rejected
from pipeline.errors import ConfigError, PipelineError, error_message
from pipeline.io.parquet import batch_rows, commit_batch, staging_dir
from pipeline.jobs import JobMeta, utc_now
from pipeline.stages import Stage, run_stages
from pipeline.stages.clean import CleanStage
from pipeline.stages.ner import NerStage
from pipeline.stages.sentiment import SentimentStage
from pipeline.stages.stance import StanceStage

log = logging.getLogger(__name__)

@contextmanager
def _model_load_is_fatal():
    """A model that does not load now will not load on a retry either (a hub id without a hub, a
    typo): the batch fails at once with the reason, rather than as a transient OSError."""
    try:
        yield
    except PipelineError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot load the job's models: {type(exc).__name__}: {error_message(exc)}") from exc


class BatchProcessor:
    """All stages for one configuration, built once per worker process (the models load here).

    The stages fall in two groups: text (cleaning, NER: CPU work) and models (sentiment,
    stance: transformers, GPU-friendly). Each group is built on first use, so a worker that only
    ever runs one group only loads that group's models.
    """

    def __init__(self, config: Config):
        self.config = config

    @cached_property
    def text_stages(self) -> list[Stage]:
        with _model_load_is_fatal():
            return [CleanStage(self.config.cleaning, self.config.input.max_doc_chars), NerStage(self.config.ner, self.config.targets)]

    @cached_property
    def model_stages(self) -> list[Stage]:
        with _model_load_is_fatal():
            return [SentimentStage(self.config.sentiment), StanceStage(self.config.stance, self.config.targets)]

    @property
    def models(self) -> dict[str, str]:
        sentiment, stance = self.model_stages
        return {"ner": self.config.ner.model, "sentiment": sentiment.model_id, "stance": stance.model_id}

    def process(self, docs: list[Document]) -> dict[str, float]:
        """Runs every stage over the documents; returns seconds per stage."""
        return {**run_stages(self.text_stages, docs), **run_stages(self.model_stages, docs)}

    def run(self, job: JobMeta, batch: int, payload: dict) -> dict:
        """Processes and commits one batch; returns its stats (what `JobState.mark_done` stores)."""
        started = time.perf_counter()
        docs = [Document.from_message(m) for m in payload["docs"]]
        seconds = self.process(docs)
        return self.commit(job, batch, docs, payload["rejected"], sum(len(d.raw) for d in docs), seconds, started)

    def run_text(self, payload: dict) -> dict:
        """The text stages only; returns the payload for `run_models` (raw input dropped, text kept)."""
        started = time.perf_counter()
        docs = [Document.from_message(m) for m in payload["docs"]]
        seconds = run_stages(self.text_stages, docs)
        seconds["text_total"] = time.perf_counter() - started
        return {"docs": [d.to_annotated() for d in docs], "rejected": payload["rejected"],
                "chars": sum(len(d.raw) for d in docs), "seconds": seconds}

    def run_models(self, job: JobMeta, batch: int, payload: dict) -> dict:
        """The model stages and the commit, after `run_text` ran elsewhere."""
        started = time.perf_counter()
        docs = [Document.from_annotated(m) for m in payload["docs"]]
        seconds = {**payload["seconds"], **run_stages(self.model_stages, docs)}
        return self.commit(job, batch, docs, payload["rejected"], payload["chars"], seconds, started)

    def commit(self, job: JobMeta, batch: int, docs: list[Document], rejected: list[dict], chars: int,
               seconds: dict[str, float], started: float) -> dict:
        rejected_records = [Rejected.from_message(m) for m in rejected]
        now = utc_now()
        try:
            rows = batch_rows(docs, rejected_records, batch, now, __version__, self.models)
        except Exception as exc:  # noqa: BLE001 - a bug in row building must not lose the batch's records
            log.exception("batch %s of job %s could not be turned into rows", batch, job.job_id)
            for doc in docs:
                doc.failure = doc.failure or Failure.of("sink", exc)
            rows = batch_rows(docs, rejected_records, batch, now, __version__, self.models)
        metadata = {"job_id": job.job_id, "pipeline_version": __version__, "models": json.dumps(self.models)}
        # Into the job's staging root: the job's datasets appear, compacted, when every batch is in.
        counts = commit_batch(staging_dir(job.out, job.job_id), job.job_id, batch, rows, metadata)
        return {
            "records": len(docs) + len(rejected_records),
            "unscored": sum(1 for d in docs if d.failure is None and d.unscored),
            "rows": counts,
            "chars": chars,
            "seconds": {**seconds, "total": time.perf_counter() - started},
            "models": self.models,
        }


@lru_cache(maxsize=4)
def processor_for(config: Config) -> BatchProcessor:
    """One processor per configuration in each process (a Config is frozen, hence hashable);
    models are shared through pipeline.models."""
    return BatchProcessor(config)
