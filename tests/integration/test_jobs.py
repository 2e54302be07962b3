"""Job ids (they become folder names) and JobState against the session's real redis-server."""

from __future__ import annotations

import dataclasses
import re
import uuid
from pathlib import Path

import pytest

from pipeline.config import BatchingConfig, load_config
from pipeline.errors import JobError
from pipeline.jobs import JobState, fingerprint, new_job_id, validate_job_id


@pytest.mark.parametrize(
    "job_id",
    ["a", "job-1", "Job_2024.11.25", "0", "a.b", "x" * 128, "job-20241125-101010-abcdef"],
)
def test_valid_job_ids(job_id):
    assert validate_job_id(job_id) == job_id


@pytest.mark.parametrize(
    "job_id",
    [
        "", "../x", "..", ".", "a/../b", "a/b", "a\\b", "/abs", ".hidden", "-dash", "_under", "a..b", "x" * 129,
        "x" * 1000, "with space", "semi;colon", "a:b", "üñï", "job\x00", "job\nid", "job=1",
    ],
)
def test_invalid_job_ids(job_id):
    with pytest.raises(JobError, match="invalid job id"):
        validate_job_id(job_id)


def test_invalid_job_id_message_is_bounded():
    with pytest.raises(JobError) as info:
        validate_job_id("../" + "y" * 5000)
    assert len(str(info.value)) < 300


def test_trailing_newline_is_rejected():
    try:
        validate_job_id("job\n")
    except JobError:
        return
    raise AssertionError("'job\\n' was accepted")


def test_new_job_ids_are_valid_and_distinct():
    ids = {new_job_id() for _ in range(20)}
    assert len(ids) == 20
    for job_id in ids:
        assert validate_job_id(job_id) == job_id
        assert re.fullmatch(r"job-\d{8}-\d{6}-[0-9a-f]{6}", job_id)


# --- JobState on a real redis-server --------------------------------------------------------------


@pytest.fixture
def job() -> str:
    return f"unit-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def config():
    return load_config()


def test_create_then_resume(state: JobState, job, config, tmp_path):
    out = tmp_path / "out"
    assert not state.exists(job)
    assert state.create_or_resume(job, out, config, ["/in/a.jsonl"]) is False
    assert state.exists(job)
    assert state.create_or_resume(job, out, config, ["/in/a.jsonl"]) is True
    meta = state.meta(job)
    assert (meta.job_id, meta.out, meta.inputs, meta.total_batches) == (job, str(out), ["/in/a.jsonl"], None)
    assert meta.config == config
    assert meta.fingerprint == fingerprint(config, ["/in/a.jsonl"], out)
    assert meta.created_at.endswith("+00:00")


@pytest.mark.parametrize("change", ["inputs", "out", "config"])
def test_changed_job_is_refused(state: JobState, job, config, tmp_path, change):
    state.create_or_resume(job, tmp_path / "out", config, ["/in/a.jsonl"])
    inputs, out, cfg = ["/in/a.jsonl"], tmp_path / "out", config
    if change == "inputs":
        inputs = ["/in/b.jsonl"]
    elif change == "out":
        out = tmp_path / "other"
    else:
        cfg = dataclasses.replace(config, batching=BatchingConfig(max_docs=1))
    with pytest.raises(JobError, match=f"job '{job}' already exists"):
        state.create_or_resume(job, out, cfg, inputs)


def test_unknown_job(state: JobState):
    with pytest.raises(JobError, match="unknown job 'never-created'"):
        state.meta("never-created")
    assert state.exists("never-created") is False
    assert state.finished_at("never-created") is None


def test_done_batches_counted_once(state: JobState, job, config, tmp_path):
    state.create_or_resume(job, tmp_path, config, [])
    stats = {"records": 3, "rows": {"documents": 2, "failures": 1}}
    state.mark_done(job, 0, stats)
    state.mark_done(job, 0, stats)  # a redelivered batch
    state.mark_done(job, 2, {"records": 1, "rows": {"documents": 1}})
    assert state.done_batches(job) == {0, 2}
    assert state.done_count(job) == 2
    assert state.done_stats(job) == {0: stats, 2: {"records": 1, "rows": {"documents": 1}}}
    s = state.summary(job)
    assert (s["records_done"], s["rows"]) == (4, {"documents": 3, "failures": 1})


def test_completion_and_finalize_claimed_once(state: JobState, job, config, tmp_path):
    state.create_or_resume(job, tmp_path, config, [])
    state.mark_done(job, 0, {"records": 1, "rows": {}})
    assert state.is_complete(job) is False  # total unknown
    assert state.claim_finalize(job) is False
    state.set_total(job, 2)
    assert state.is_complete(job) is False
    state.mark_done(job, 1, {"records": 1, "rows": {}})
    assert state.is_complete(job) is True
    assert [state.claim_finalize(job) for _ in range(3)] == [True, False, False]
    state.release_finalize(job)
    assert state.claim_finalize(job) is True


def test_summary_through_the_states(state: JobState, job, config, tmp_path):
    state.create_or_resume(job, tmp_path / "o", config, [])
    s = state.summary(job)
    assert (s["state"], s["batches_done"], s["batches_total"], s["records_done"], s["rows"]) == ("running", 0, None, 0, {})
    state.mark_done(job, 0, {"records": 3, "rows": {"documents": 2, "failures": 1, "entities": 5}})
    state.mark_done(job, 1, {"records": 2, "rows": {"documents": 2, "entities": 1}})
    state.set_total(job, 3)
    s = state.summary(job)
    assert (s["state"], s["batches_done"], s["batches_total"], s["records_done"]) == ("running", 2, 3, 5)
    assert s["rows"] == {"documents": 4, "failures": 1, "entities": 6}
    state.mark_done(job, 2, {"records": 1, "rows": {"documents": 1}})
    assert state.summary(job)["state"] == "finalizing"
    state.mark_finalized(job, Path("/out/_jobs/x.json"))
    s = state.summary(job)
    assert s["state"] == "finished" and s["finished_at"] == state.finished_at(job)
    assert s["out"] == str(tmp_path / "o") and s["job_id"] == job


def test_jobs_do_not_see_each_other(state: JobState, config, tmp_path):
    a, b = f"iso-{uuid.uuid4().hex[:8]}", f"iso-{uuid.uuid4().hex[:8]}"
    state.create_or_resume(a, tmp_path, config, [])
    state.create_or_resume(b, tmp_path, config, [])
    state.mark_done(a, 0, {"records": 1, "rows": {}})
    assert state.done_count(a) == 1 and state.done_count(b) == 0


def test_failed_batches_recorded_and_cleared_by_a_commit(state: JobState, job, config, tmp_path):
    state.create_or_resume(job, tmp_path, config, [])
    state.mark_failed(job, 1, "boom " + "x" * 1000)
    state.mark_failed(job, 3, "other")
    failed = state.failed_batches(job)
    assert set(failed) == {1, 3} and failed[3] == "other"
    assert failed[1].startswith("boom ") and len(failed[1]) == 500
    assert state.summary(job)["batches_failed"] == failed
    state.mark_done(job, 1, {"records": 1, "rows": {}})  # a retry succeeded
    assert state.failed_batches(job) == {3: "other"}
    assert state.done_batches(job) == {1}
