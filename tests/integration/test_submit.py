"""submit_job against a real redis-server: resume, refusals, and the input check."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest

from pipeline.config import BatchingConfig, load_config
from pipeline.errors import InputError, JobError
from pipeline.jobs import JobState
from pipeline.producer import submit_job


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"Article number {i}."}) + "\n" for i in range(5))
                    + "{broken\n", encoding="utf-8")
    return path


@pytest.fixture
def config():
    base = load_config()
    return dataclasses.replace(base, batching=BatchingConfig(max_chars=10_000, max_docs=2, max_in_flight=2))


class FakeWorkers:
    """Stands in for Celery: records what was enqueued and commits it at once in the real job state."""

    def __init__(self, state: JobState, commit: bool = True):
        self.state, self.commit = state, commit
        self.enqueued: list[int] = []
        self.payloads: dict[int, dict] = {}
        self.finalized: list[str] = []

    def enqueue(self, job_id, number, payload):
        self.enqueued.append(number)
        self.payloads[number] = payload
        if self.commit:
            self.state.mark_done(job_id, number, {"records": len(payload["docs"]) + len(payload["rejected"]), "rows": {}})

    def finalize(self, job_id):
        self.finalized.append(job_id)


def test_submit_then_resume(state, corpus, config, tmp_path):
    job = f"prod-{uuid.uuid4().hex[:8]}"
    workers = FakeWorkers(state)
    sub = submit_job(job, [str(corpus)], tmp_path / "out", config, state, workers.enqueue, workers.finalize)
    assert (sub.resumed, sub.total_batches, sub.skipped_batches, sub.enqueued_batches) == (False, 3, 0, 3)
    assert workers.enqueued == [0, 1, 2]
    assert [d["doc_id"] for d in workers.payloads[0]["docs"]] == ["d0", "d1"]
    assert workers.payloads[2]["rejected"][0]["line"] == 6
    assert workers.finalized == [job]
    assert state.meta(job).total_batches == 3

    # Nothing wrote the manifest: a resubmission asks for the finalize step again.
    again = FakeWorkers(state)
    sub = submit_job(job, [str(corpus)], tmp_path / "out", config, state, again.enqueue, again.finalize)
    assert (sub.resumed, sub.total_batches, sub.skipped_batches, sub.enqueued_batches) == (True, 3, 3, 0)
    assert again.enqueued == [] and again.finalized == [job]

    # Once the manifest is written, a resubmission changes nothing.
    state.mark_finalized(job, tmp_path / "out" / "_jobs" / f"{job}.json")
    last = FakeWorkers(state)
    submit_job(job, [str(corpus)], tmp_path / "out", config, state, last.enqueue, last.finalize)
    assert last.enqueued == [] and last.finalized == []


def test_resume_enqueues_only_uncommitted_batches(state, corpus, config, tmp_path):
    job = f"prod-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out"
    state.create_or_resume(job, out.resolve(), config, [str(corpus.resolve())])
    state.mark_done(job, 1, {"records": 2, "rows": {}})
    workers = FakeWorkers(state)
    sub = submit_job(job, [str(corpus)], out, config, state, workers.enqueue, workers.finalize)
    assert (sub.resumed, sub.skipped_batches, sub.enqueued_batches) == (True, 1, 2)
    assert workers.enqueued == [0, 2]
    assert workers.finalized == [job]


def test_resume_with_other_configuration_is_refused(state, corpus, config, tmp_path):
    job = f"prod-{uuid.uuid4().hex[:8]}"
    workers = FakeWorkers(state)
    submit_job(job, [str(corpus)], tmp_path / "out", config, state, workers.enqueue, workers.finalize)
    other = dataclasses.replace(config, batching=BatchingConfig(max_docs=3))
    with pytest.raises(JobError, match="already exists with other inputs"):
        submit_job(job, [str(corpus)], tmp_path / "out", other, state, workers.enqueue, workers.finalize)


def test_submit_rejects_bad_job_id_and_missing_input(state, corpus, config, tmp_path):
    workers = FakeWorkers(state)
    with pytest.raises(JobError, match="invalid job id"):
        submit_job("../escape", [str(corpus)], tmp_path / "out", config, state, workers.enqueue, workers.finalize)
    with pytest.raises(InputError, match="input not found"):
        submit_job("prod-missing", [str(tmp_path / "nope.jsonl")], tmp_path / "out", config, state, workers.enqueue,
                   workers.finalize)
    assert not state.exists("prod-missing") and workers.enqueued == []


def test_submit_empty_input(state, config, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    workers = FakeWorkers(state)
    with pytest.raises(JobError, match="the input holds no records"):
        submit_job(f"prod-{uuid.uuid4().hex[:8]}", [str(empty)], tmp_path / "out", config, state, workers.enqueue,
                   workers.finalize)


def _prepend(corpus):
    corpus.write_text(json.dumps({"id": "new", "text": "A record added at the top."}) + "\n" + corpus.read_text(), encoding="utf-8")


def _append(corpus):
    with corpus.open("a", encoding="utf-8") as fh:
        for i in range(4):
            fh.write(json.dumps({"id": f"late{i}", "text": f"Appended article {i}."}) + "\n")


@pytest.mark.parametrize("change", [_prepend, _append], ids=["records added at the top", "records appended"])
def test_resume_with_a_changed_input_is_refused(state, corpus, config, tmp_path, change):
    """Records added at the top shift every batch, records appended make new ones: resuming would
    lose or duplicate records, or mix inputs, so the resume is refused before anything is enqueued."""
    job = f"prod-{uuid.uuid4().hex[:8]}"
    first = FakeWorkers(state)
    submit_job(job, [str(corpus)], tmp_path / "out", config, state, first.enqueue, first.finalize)
    change(corpus)
    again = FakeWorkers(state)
    with pytest.raises(JobError, match="the input changed since the job was first submitted"):
        submit_job(job, [str(corpus)], tmp_path / "out", config, state, again.enqueue, again.finalize)
    assert again.enqueued == []


def test_resume_with_the_same_input_passes_the_check(state, corpus, config, tmp_path):
    job = f"prod-{uuid.uuid4().hex[:8]}"
    first = FakeWorkers(state)
    submit_job(job, [str(corpus)], tmp_path / "out", config, state, first.enqueue, first.finalize)
    state.r.hdel(f"nlp-pipeline:job:{job}:done", "1")  # batch 1 lost its commit: the resume re-enqueues it
    again = FakeWorkers(state)
    sub = submit_job(job, [str(corpus)], tmp_path / "out", config, state, again.enqueue, again.finalize)
    assert sub.resumed and again.enqueued == [1]
