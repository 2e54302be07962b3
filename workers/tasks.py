"""Thin tasks: take ids and a batch payload (JSON), call the pipeline, record the result."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import redis

from pipeline.config import load_config
from pipeline.errors import PipelineError
from pipeline.io.parquet import remove_temp_files
from pipeline.jobs import JobMeta, JobState, utc_now
from pipeline.processing import processor_for, write_manifest
from workers.app import app

log = logging.getLogger(__name__)

_worker = load_config(os.environ.get("NLP_PIPELINE_CONFIG")).worker

# Errors worth retrying: the broker or the disk hiccuped. Bad input never raises out of a
# batch (it becomes failure rows), so it is never retried.
TRANSIENT = (redis.ConnectionError, redis.TimeoutError, OSError)


@lru_cache(maxsize=1)
def job_state() -> JobState:
    return JobState.from_url(app.conf.broker_url)


@lru_cache(maxsize=64)
def job_meta(job_id: str) -> JobMeta:
    return job_state().meta(job_id)


# Batch tasks are idempotent (a batch rewrites its own files), hence acks_late; transient errors
# are retried a bounded number of times with exponential backoff.
BATCH_TASK = dict(
    bind=True,
    acks_late=True,
    autoretry_for=TRANSIENT,
    max_retries=_worker.max_retries,
    retry_backoff=2,
    retry_backoff_max=_worker.retry_backoff_max,
    retry_jitter=True,
)

OUTPUT_ROOT_ENV = "NLP_PIPELINE_OUTPUT_ROOT"


def check_output_root(out: Path) -> None:
    """A worker given an output root writes nowhere else, whatever a submitted job asks for."""
    root = os.environ.get(OUTPUT_ROOT_ENV)
    if root and not out.resolve().is_relative_to(Path(root).resolve()):
        raise PipelineError(f"output folder {out} is outside {OUTPUT_ROOT_ENV}={root}")


@app.task(name="nlp.process_batch", **BATCH_TASK)
def process_batch(self, job_id: str, batch: int, payload: dict) -> dict:
    state = job_state()
    job = job_meta(job_id)
    models_queue = job.config.worker.models_queue
    with _recording_final_failure(self, state, job_id, batch):
        check_output_root(job.out)
        processor = processor_for(job.config)
        if models_queue:
            scored = processor.run_text(payload)
            score_batch.apply_async((job_id, batch, scored), queue=models_queue)
            return {"batch": batch, "sent_to": models_queue}
        stats = processor.run(job, batch, payload)
    return _committed(state, job_id, batch, stats)


@app.task(name="nlp.score_batch", **BATCH_TASK)
def score_batch(self, job_id: str, batch: int, payload: dict) -> dict:
    """The model stages and the commit, for jobs that route them to their own queue."""
    state = job_state()
    job = job_meta(job_id)
    with _recording_final_failure(self, state, job_id, batch):
        processor = processor_for(job.config)
        stats = processor.run_models(job, batch, payload)
    return _committed(state, job_id, batch, stats)


@contextmanager
def _recording_final_failure(task, state: JobState, job_id: str, batch: int):
    """Out of retries, or not retryable: say so in the job state, where `status` shows it and a
    resubmission of the job picks the batch up again."""
    try:
        yield
    except Exception as exc:
        if not isinstance(exc, TRANSIENT) or task.request.retries >= task.max_retries:
            state.mark_failed(job_id, batch, f"{type(exc).__name__}: {exc}")
        raise


def _committed(state: JobState, job_id: str, batch: int, stats: dict) -> dict:
    state.mark_done(job_id, batch, stats)
    if state.claim_finalize(job_id):
        finalize_job.delay(job_id)
    return {"batch": batch, "rows": stats["rows"]}


@app.task(name="nlp.finalize_job", acks_late=True, autoretry_for=TRANSIENT, max_retries=_worker.max_retries, retry_backoff=2)
def finalize_job(job_id: str) -> str:
    state = job_state()
    job = state.meta(job_id)
    try:
        remove_temp_files(job.out, job_id)
        path = write_manifest(job, state.done_stats(job_id), utc_now().isoformat())
    except Exception:
        state.release_finalize(job_id)
        raise
    state.mark_finalized(job_id, path)
    log.info("job %s finished: %s", job_id, path)
    return str(path)


def send_batch(job_id: str, batch: int, payload: dict) -> None:
    process_batch.apply_async((job_id, batch, payload))


def send_finalize(job_id: str) -> None:
    finalize_job.apply_async((job_id,))
