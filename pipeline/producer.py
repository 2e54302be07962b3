"""The producer: reads a corpus, cuts it into batches, and enqueues those not yet committed.

Batches are cut deterministically (same input and configuration, same batches), so a
job submitted again under the same id skips what was already committed: that is resume.
The enqueue function is passed in, so this module needs no Celery.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pipeline.config import BatchingConfig, Config
from pipeline.documents import Document, Rejected
from pipeline.errors import JobError
from pipeline.io.readers import check_inputs, read_corpus
from pipeline.io.storage import normalize
from pipeline.jobs import JobState, validate_job_id

log = logging.getLogger(__name__)

Enqueue = Callable[[str, int, dict], None]


def batch_digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def make_batches(items: Iterable[Document | Rejected], cfg: BatchingConfig) -> Iterator[tuple[int, dict]]:
    """Groups records into (batch number, payload) by a character budget and a record count."""
    docs: list[dict] = []
    rejected: list[dict] = []
    chars = 0
    number = 0
    for item in items:
        if isinstance(item, Rejected):
            rejected.append(item.to_message())
        else:
            docs.append(item.to_message())
            chars += len(item.raw)
        if chars >= cfg.max_chars or len(docs) + len(rejected) >= cfg.max_docs:
            yield number, {"docs": docs, "rejected": rejected}
            number += 1
            docs, rejected, chars = [], [], 0
    if docs or rejected:
        yield number, {"docs": docs, "rejected": rejected}


@dataclass
class Submission:
    job_id: str
    resumed: bool
    total_batches: int
    skipped_batches: int  # already committed before this submission
    enqueued_batches: int


def submit_job(
    job_id: str,
    inputs: list[str],
    out: str,
    config: Config,
    state: JobState,
    enqueue: Enqueue,
    request_finalize: Callable[[str], None],
) -> Submission:
    """Registers (or resumes) the job and enqueues its batches, at most `max_in_flight` at a time.
    `out` is a local folder or an s3:// URL."""
    validate_job_id(job_id)
    paths = check_inputs(inputs)
    out = normalize(out)
    resumed = state.create_or_resume(job_id, out, config, [str(p) for p in paths])
    committed = state.done_batches(job_id)
    known_total = state.meta(job_id).total_batches if resumed else None
    changed = JobError(f"job {job_id!r}: the input changed since the job was first submitted (it now cuts into another "
                       "number of batches); resume a job only with the same input, or give the new input a new job id")
    enqueued = 0
    total = 0
    for number, payload in make_batches(read_corpus(paths, config.input), config.batching):
        total = number + 1
        if known_total is not None and number >= known_total:
            raise changed
        state.check_batch_digest(job_id, number, batch_digest(payload))
        if number in committed:
            continue
        # Backpressure: wait until the workers have committed enough of what we sent.
        while enqueued - (state.done_count(job_id) - len(committed)) >= config.batching.max_in_flight:
            time.sleep(0.1)
        enqueue(job_id, number, payload)
        enqueued += 1
    if total == 0:
        raise JobError("the input holds no records")
    if known_total is not None and total != known_total:
        raise changed
    state.set_total(job_id, total)
    if resumed and not state.finished_at(job_id):
        # A finalize step claimed by a process that died before writing the manifest.
        state.release_finalize(job_id)
    # The last batch may have been committed before the total was known; then nobody else finalizes.
    if state.claim_finalize(job_id):
        request_finalize(job_id)
    return Submission(job_id, resumed, total, len(committed & set(range(total))), enqueued)
