"""`nlp-pipeline` as a user runs it: errors are one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from pipeline import __version__
from pipeline.config import BROKER_ENV
from tests.integration.conftest import cli

NO_BROKER = {BROKER_ENV: ""}


def assert_one_error_line(result, starts: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(starts), lines[0]
    return lines[0]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "A short article about nothing in particular."}) + "\n", encoding="utf-8")
    return path


def test_run_with_missing_input(tmp_path):
    out = tmp_path / "out"
    result = cli("run", str(tmp_path / "missing.jsonl"), "--out", str(out), "--quiet")
    line = assert_one_error_line(result, "error: input not found: ")
    assert line.endswith("missing.jsonl")
    assert not out.exists()  # nothing was started


def test_submit_with_missing_input(tmp_path, redis_server):
    result = cli("submit", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "out"), "--broker", redis_server.url)
    assert_one_error_line(result, "error: input not found: ")
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "IN", "--out", "OUT"],
        ["status", "some-job"],
        ["worker"],
    ],
)
def test_missing_broker_url(tmp_path, corpus, args):
    args = [str(corpus) if a == "IN" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = cli(*args, env=NO_BROKER)
    line = assert_one_error_line(result, "error: no broker URL")
    assert line == f"error: no broker URL: pass --broker URL or set {BROKER_ENV}"


def test_bad_broker_scheme_is_reported_redacted(tmp_path):
    result = cli("status", "some-job", "--broker", "http://admin:hunter2@broker.example:80/0", env=NO_BROKER)
    line = assert_one_error_line(result, "error: broker URL must be redis://")
    assert "hunter2" not in result.stderr and "http://admin:***@broker.example" in line


@pytest.mark.parametrize("command", ["run", "submit"])
def test_unknown_config_key(tmp_path, corpus, redis_server, command):
    config = tmp_path / "bad.yaml"
    config.write_text("batching:\n  max_doc: 10\n", encoding="utf-8")
    extra = ["--broker", redis_server.url] if command == "submit" else ["--quiet"]
    result = cli(command, str(corpus), "--out", str(tmp_path / "out"), "--config", str(config), *extra)
    line = assert_one_error_line(result, "error: config.batching: unknown key(s) max_doc")
    assert "known: max_chars, max_docs, max_in_flight" in line
    assert not (tmp_path / "out").exists()


def test_config_file_not_found(tmp_path, corpus):
    result = cli("run", str(corpus), "--out", str(tmp_path / "out"), "--config", str(tmp_path / "nope.yaml"), "--quiet")
    assert_one_error_line(result, "error: configuration file not found: ")


def test_invalid_job_id_on_submit(tmp_path, corpus, redis_server):
    result = cli("submit", str(corpus), "--out", str(tmp_path / "out"), "--job", "../escape", "--broker", redis_server.url)
    line = assert_one_error_line(result, "error: invalid job id '../escape'")
    assert result.stdout == ""
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("job_id", ["a/b", ".hidden", "x" * 200])
def test_invalid_job_ids_on_submit(tmp_path, corpus, redis_server, job_id):
    result = cli("submit", str(corpus), "--out", str(tmp_path / "out"), "--job", job_id, "--broker", redis_server.url)
    assert_one_error_line(result, "error: invalid job id ")


def test_invalid_job_id_on_run(tmp_path, corpus):
    result = cli("run", str(corpus), "--out", str(tmp_path / "out"), "--job", "../escape", "--quiet")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: invalid job id '../escape'")
    assert not (tmp_path / "escape").exists()


def test_invalid_job_id_on_run_fails_before_starting_anything(tmp_path, corpus):
    out = tmp_path / "out"
    result = cli("run", str(corpus), "--out", str(out), "--job", "../escape", "--quiet")
    assert_one_error_line(result, "error: invalid job id '../escape'")
    assert not out.exists()


def test_status_of_unknown_job(redis_server):
    result = cli("status", "no-such-job", "--broker", redis_server.url)
    assert_one_error_line(result, "error: unknown job 'no-such-job' on this broker")


@pytest.mark.parametrize(
    "command",
    [
        "run", "submit", "status", "worker", "summary",
        "train",
        "evaluate",
        "distill",
        "eval-cleaning",
    ],
)
def test_help_of_every_subcommand(command):
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: nlp-pipeline {command}")
    assert "Traceback" not in result.stderr


def test_help_lists_every_subcommand():
    result = cli("--help")
    assert result.returncode == 0
    for command in ["run", "submit", "status", "worker", "summary", "train", "evaluate", "distill", "eval-cleaning"]:
        assert command in result.stdout


def test_version():
    result = cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"nlp-pipeline {__version__}")


def test_no_subcommand_is_a_usage_error():
    result = cli()
    assert result.returncode == 2
    assert "usage: nlp-pipeline" in result.stderr and "Traceback" not in result.stderr


def test_missing_out_is_a_usage_error(corpus):
    result = cli("run", str(corpus))
    assert result.returncode == 2
    assert "the following arguments are required: --out" in result.stderr


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_run_refuses_a_worker_count_below_one(tmp_path, corpus, workers):
    result = cli("run", str(corpus), "--out", str(tmp_path / "out"), "--workers", workers, "--quiet")
    assert result.returncode == 2 and "argument --workers" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["a file", "a read-only folder"])
def test_unwritable_output_is_one_line_before_anything_starts(tmp_path, corpus, kind):
    out = tmp_path / "out"
    if kind == "a file":
        out.write_text("not a folder")
    else:
        out.mkdir()
        out.chmod(0o555)
        if os.access(out, os.W_OK) and os.geteuid() == 0:
            # root writes through permission bits: a read-only bind mount is the real case
            if subprocess.run(["mount", "--bind", "-o", "ro", str(out), str(out)], capture_output=True).returncode:
                pytest.skip("cannot make a read-only mount here")
    try:
        result = cli("run", str(corpus), "--out", str(out), "--quiet")
    finally:
        if kind != "a file":
            subprocess.run(["umount", str(out)], capture_output=True)
    assert_one_error_line(result, f"error: cannot write to the output folder {out}")


@pytest.mark.parametrize(
    "overlay, fragment",
    [
        ("stance:\n  model: /no/such/model\n", "error: stance.model: no such model folder: /no/such/model"),
        ("sentiment:\n  model: someone/no-such-model\n", "error: sentiment.model: cannot load 'someone/no-such-model'"),
        ("sentiment:\n  model: accurate\n", "error: sentiment.model: the accurate tier needs all-mpnet-base-v2 at "),
        ("stance:\n  model: accurate\n", "error: stance.model: the accurate tier needs all-mpnet-base-v2 at "),
        ("stance:\n  max_length: 4096\n", "error: stance.max_length: 4096 is above the model's limit of 512 tokens"),
        ("ner:\n  model: en_core_web_nope\n", "error: ner.model: 'en_core_web_nope' is neither"),
        ("routing:\n  models_queue: gpu,cpu\n", "error: config.routing.models_queue: must be one queue name"),
        ("worker:\n  max_retries: 1\n", "error: "),
        ("targets:\n  - name: X\n", "error: "),
    ],
)
def test_settings_that_cannot_work_fail_before_anything_starts(tmp_path, corpus, overlay, fragment):
    config = tmp_path / "job.yaml"
    config.write_text(overlay, encoding="utf-8")
    result = cli("run", str(corpus), "--out", str(tmp_path / "out"), "--config", str(config), "--quiet",
                 env={"HF_HUB_OFFLINE": "1", "NLP_PIPELINE_ACCURATE_BASE": str(tmp_path / "no-base")})
    assert_one_error_line(result, fragment)
    assert not (tmp_path / "out" / "_broker").exists()


def test_a_dead_broker_is_reported_at_once(tmp_path, corpus):
    from pipeline.local import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    for args in (["status", "some-job"], ["submit", str(corpus), "--out", str(tmp_path / "out")]):
        started = time.monotonic()
        result = cli(*args, "--broker", url)
        assert time.monotonic() - started < 20
        assert_one_error_line(result, f"error: broker: cannot reach {url}")
