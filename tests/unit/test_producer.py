"""The producer: deterministic batches, and submit/resume against a real redis-server."""

from __future__ import annotations

import dataclasses
import json
import uuid

import pytest

from pipeline.config import BatchingConfig, load_config
from pipeline.documents import Document, Failure, Rejected
from pipeline.errors import InputError, JobError
from pipeline.jobs import JobState
from pipeline.producer import make_batches, submit_job


def doc(doc_id: str, chars: int) -> Document:
    return Document(doc_id=doc_id, source="s.jsonl", line=1, raw="x" * chars)


def rej(line: int) -> Rejected:
    return Rejected("s.jsonl", line, None, Failure("read", "InvalidJSON", "bad"))


def summary(batches) -> list[tuple[int, list[str], list[int]]]:
    return [(n, [d["doc_id"] for d in p["docs"]], [r["line"] for r in p["rejected"]]) for n, p in batches]


def test_batches_close_on_record_count():
    items = [doc(str(i), 1) for i in range(5)]
    assert summary(make_batches(items, BatchingConfig(max_chars=1000, max_docs=2))) == [
        (0, ["0", "1"], []), (1, ["2", "3"], []), (2, ["4"], [])]


def test_batches_close_on_character_budget():
    items = [doc("a", 40), doc("b", 60), doc("c", 99), doc("d", 1), doc("e", 250), doc("f", 5)]
    # a+b = 100 reaches the budget; c+d = 100 too; e alone is over it; f is the remainder.
    assert summary(make_batches(items, BatchingConfig(max_chars=100, max_docs=50))) == [
        (0, ["a", "b"], []), (1, ["c", "d"], []), (2, ["e"], []), (3, ["f"], [])]


def test_rejected_records_count_toward_max_docs_but_not_chars():
    items = [rej(1), doc("a", 10), rej(3), doc("b", 10), rej(5)]
    assert summary(make_batches(items, BatchingConfig(max_chars=15, max_docs=3))) == [
        (0, ["a"], [1, 3]), (1, ["b"], [5])]


def test_batch_payload_is_plain_json_messages():
    d = Document(doc_id="a", source="s", line=2, raw="<p>x</p>", is_html=True, title="T", published_at="2024-01-01T00:00:00+00:00")
    d.text = "annotation not sent"
    ((number, payload),) = list(make_batches([d, rej(3)], BatchingConfig()))
    assert number == 0
    assert json.loads(json.dumps(payload)) == payload
    assert payload["docs"] == [{"doc_id": "a", "source": "s", "line": 2, "raw": "<p>x</p>", "is_html": True, "title": "T",
                                "url": None, "published_at": "2024-01-01T00:00:00+00:00", "outlet": None, "duplicate_of": None}]
    assert payload["rejected"] == [{"source": "s.jsonl", "line": 3, "doc_id": None, "stage": "read",
                                    "error_type": "InvalidJSON", "message": "bad"}]
    assert Rejected.from_message(payload["rejected"][0]) == rej(3)
    assert Document.from_message(payload["docs"][0]).raw == "<p>x</p>"


def test_no_items_no_batches():
    assert list(make_batches([], BatchingConfig())) == []


def test_batches_are_deterministic():
    def items():
        return [doc(str(i), (i * 37) % 90 + 1) if i % 7 else rej(i) for i in range(200)]

    cfg = BatchingConfig(max_chars=300, max_docs=9)
    first, second = list(make_batches(items(), cfg)), list(make_batches(items(), cfg))
    assert first == second
    assert [n for n, _ in first] == list(range(len(first)))
    assert sum(len(p["docs"]) + len(p["rejected"]) for _, p in first) == 200


# --- submit_job against the session's redis-server ----------------------------------------------


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
