"""`nlp-pipeline` as a user runs it: errors are one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import json

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
