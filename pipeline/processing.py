"""Processing one batch end to end, and writing a job's manifest: the work a Celery task wraps."""

from __future__ import annotations

import json
import logging
import platform
import time
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipeline import __version__
from pipeline.config import Config, config_from_dict
from pipeline.documents import Document, Failure, Rejected
from pipeline.io.parquet import batch_rows, commit_batch
from pipeline.jobs import JobMeta, utc_now
from pipeline.schemas import SCHEMA_VERSION
from pipeline.stages import run_stages
from pipeline.stages.clean import CleanStage
from pipeline.stages.ner import NerStage
from pipeline.stages.sentiment import SentimentStage
from pipeline.stages.stance import StanceStage

log = logging.getLogger(__name__)

class BatchProcessor:
    """All stages, built once per worker process and configuration (the models load here)."""

    def __init__(self, config: Config):
        self.config = config
        sentiment = SentimentStage(config.sentiment)
        stance = StanceStage(config.stance, config.targets)
        self.stages = [CleanStage(config.cleaning), NerStage(config.ner, config.targets), sentiment, stance]
        self.models = {"sentiment": sentiment.model_id, "stance": stance.model_id, "ner": config.ner.model}

    def process(self, docs: list[Document]) -> dict[str, float]:
        return run_stages(self.stages, docs)

    def run(self, job: JobMeta, batch: int, payload: dict) -> dict:
        """Processes and commits one batch; returns its stats (what `JobState.mark_done` stores)."""
        started = time.perf_counter()
        docs = [Document.from_message(m) for m in payload["docs"]]
        rejected = [Rejected.from_message(m) for m in payload["rejected"]]
        seconds = self.process(docs)
        now = utc_now()
        try:
            rows = batch_rows(docs, rejected, batch, now, __version__, self.models)
        except Exception as exc:  # noqa: BLE001 - a bug in row building must not lose the batch's records
            log.exception("batch %s of job %s could not be turned into rows", batch, job.job_id)
            for doc in docs:
                doc.failure = doc.failure or Failure("sink", type(exc).__name__, str(exc)[:500] or repr(exc))
            rows = batch_rows(docs, rejected, batch, now, __version__, self.models)
        metadata = {"job_id": job.job_id, "pipeline_version": __version__, "models": json.dumps(self.models)}
        counts = commit_batch(job.out, job.job_id, batch, rows, metadata)
        return {
            "records": len(docs) + len(rejected),
            "rows": counts,
            "chars": sum(len(d.raw) for d in docs),
            "seconds": {**seconds, "total": time.perf_counter() - started},
        }


@lru_cache(maxsize=4)
def processor_for(config_json: str) -> BatchProcessor:
    """One processor per configuration in each process; models are shared through pipeline.models."""
    return BatchProcessor(config_from_dict(json.loads(config_json)))


def _versions() -> dict[str, str]:
    found = {"pipeline": __version__, "python": platform.python_version(), "schema": SCHEMA_VERSION}
    for package in ("celery", "redis", "spacy", "transformers", "torch", "pyarrow", "trafilatura"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def write_manifest(job: JobMeta, stats: dict[int, dict], finished_at: str, models: dict[str, str]) -> Path:
    """Writes OUT/_jobs/<job>.json atomically and returns its path."""
    rows: dict[str, int] = {}
    stage_seconds: dict[str, float] = {}
    for s in stats.values():
        for name, n in s["rows"].items():
            rows[name] = rows.get(name, 0) + n
        for name, sec in s["seconds"].items():
            stage_seconds[name] = round(stage_seconds.get(name, 0.0) + sec, 3)
    manifest = {
        "job_id": job.job_id,
        "inputs": job.inputs,
        "out": str(job.out),
        "batches": len(stats),
        "records": sum(s["records"] for s in stats.values()),
        "rows": rows,
        "characters": sum(s["chars"] for s in stats.values()),
        "created_at": job.created_at,
        "finished_at": finished_at,
        "worker_seconds": stage_seconds,
        "versions": _versions(),
        "models": models,
        "config": job.config.to_dict(),
    }
    path = job.out / "_jobs" / f"{job.job_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return path
