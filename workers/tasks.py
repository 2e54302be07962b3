"""Thin tasks: take ids and a batch payload (JSON), call the pipeline, record the result."""

from __future__ import annotations

import logging
import os
import random
from contextlib import contextmanager
from functools import lru_cache

import redis

from pipeline.config import OUTPUT_ROOT_ENV
from pipeline.errors import PipelineError
from pipeline.io import storage
from pipeline.io.manifest import manifest_path, write_manifest
from pipeline.io.parquet import compact_job, remove_staging, remove_temp_files
from pipeline.jobs import JobMeta, JobState, utc_now
from pipeline.processing import processor_for
from workers.app import current_setup
from workers.app import app

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def job_state() -> JobState:
    return JobState.from_url(app.conf.broker_url)


@lru_cache(maxsize=64)
def job_meta(job_id: str) -> JobMeta:
    return job_state().meta(job_id)


def check_output_root(out: str) -> None:
    """A worker given an output root (a folder or an s3:// URL) writes nowhere else, whatever a
    submitted job asks for."""
    root = os.environ.get(OUTPUT_ROOT_ENV)
    if root and not storage.is_within(out, storage.normalize(root)):
        raise PipelineError(f"output folder {out} is outside {OUTPUT_ROOT_ENV}={root}")


def _finished(state: JobState, job_id: str, batch: int) -> bool:
    """A job is finished only once every batch was committed and compacted: a delivery after that
    (a redelivery of a batch whose worker was only slow to acknowledge) has nothing to add, and
    running it would only leave staged files behind."""
    if not state.finished_at(job_id):
        return False
    log.info("batch %s of job %s skipped: the job is finished", batch, job_id)
    return True


# Batch tasks are idempotent (a batch rewrites its own files), hence acks_late.
@app.task(name="nlp.process_batch", bind=True, acks_late=True)
def process_batch(self, job_id: str, batch: int, payload: dict) -> dict:
    state = job_state()
    if _finished(state, job_id, batch):
        return {"batch": batch, "skipped": "job finished"}
    job = job_meta(job_id)
    models_queue = job.config.routing.models_queue
    with _retrying_transient_errors(self, state, job_id, batch):
        check_output_root(job.out)
        processor = processor_for(job.config)
        if models_queue:
            scored = processor.run_text(payload)
            score_batch.apply_async((job_id, batch, scored), queue=models_queue)
            return {"batch": batch, "sent_to": models_queue}
        stats = processor.run(job, batch, payload)
    return _committed(state, job, batch, stats)


@app.task(name="nlp.score_batch", bind=True, acks_late=True)
def score_batch(self, job_id: str, batch: int, payload: dict) -> dict:
    """The model stages and the commit, for jobs that route them to their own queue."""
    state = job_state()
    if _finished(state, job_id, batch):
        return {"batch": batch, "skipped": "job finished"}
    job = job_meta(job_id)
    with _retrying_transient_errors(self, state, job_id, batch):
        processor = processor_for(job.config)
        stats = processor.run_models(job, batch, payload)
    return _committed(state, job, batch, stats)


PERMANENT_OS_ERRORS = (PermissionError, FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the broker or the disk hiccuped. Bad input never raises out of a batch (it
    becomes failure rows), and an OSError that will not heal with time (a permission refused, a
    file where a folder should be, a path that does not exist) fails at once with its message."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return not isinstance(exc, redis.AuthenticationError)
    return isinstance(exc, OSError) and not isinstance(exc, PERMANENT_OS_ERRORS)


def _retry_if_transient(task, exc: Exception) -> None:
    """Raises the task's retry when `exc` can heal and the worker's max_retries are not used up:
    backoff doubling from 2 s up to retry_backoff_max, with full jitter; returns otherwise."""
    settings = current_setup().settings
    retries = task.request.retries
    if is_transient(exc) and retries < settings.max_retries:
        countdown = random.uniform(0, settings.retry_countdown(retries))
        raise task.retry(exc=exc, countdown=countdown, max_retries=settings.max_retries) from exc


@contextmanager
def _retrying_transient_errors(task, state: JobState, job_id: str, batch: int):
    """A transient error is retried up to the worker's max_retries, with doubling backoff and jitter.
    Out of retries, or not retryable: say so in the job state, where `status` shows it and a
    resubmission of the job picks the batch up again."""
    try:
        yield
    except Exception as exc:
        _retry_if_transient(task, exc)
        state.mark_failed(job_id, batch, storage.redact(f"{type(exc).__name__}: {exc}"))
        raise


def _committed(state: JobState, job: JobMeta, batch: int, stats: dict) -> dict:
    state.mark_done(job.job_id, batch, stats)
    if state.finished_at(job.job_id):
        # The job finished while this (redelivered) batch ran, so the finalize may have deleted the
        # staged parts before this batch wrote its own: delete them again. A finalize that marks the
        # job finished after this check lists the parts after they were written and deletes them.
        remove_staging(job.out, job.job_id)
    elif state.claim_finalize(job.job_id):
        finalize_job.delay(job.job_id)
    return {"batch": batch, "rows": stats["rows"]}


@app.task(name="nlp.finalize_job", bind=True, acks_late=True)
def finalize_job(self, job_id: str) -> str:
    """Compacts the job's parts into its datasets, writes the manifest (last), marks the job
    finished, then deletes the staged parts. Run again after a crash at any point, it ends the same:
    compaction rewrites the same files, and the parts go only once the job is marked finished."""
    state = job_state()
    job = state.meta(job_id)
    path = manifest_path(job.out, job_id)
    try:
        if not state.finished_at(job_id):
            remove_temp_files(job.out, job_id)
            stats = state.done_stats(job_id)
            files = compact_job(job.out, job_id, {batch: s["chars"] for batch, s in stats.items()})
            write_manifest(job, stats, utc_now().isoformat(), files)
            state.mark_finalized(job_id, path)
        remove_staging(job.out, job_id)
    except Exception as exc:
        state.release_finalize(job_id)
        _retry_if_transient(self, exc)
        raise
    log.info("job %s finished: %s", job_id, path)
    return path


def send_batch(job_id: str, batch: int, payload: dict) -> None:
    process_batch.apply_async((job_id, batch, payload))


def send_finalize(job_id: str) -> None:
    finalize_job.apply_async((job_id,))
