"""Locations, local whole-file writes and redaction (the S3 side runs against a server in
tests/integration/test_s3.py)."""

from __future__ import annotations

import os

import pytest

from pipeline.errors import PipelineError
from pipeline.io import storage


@pytest.mark.parametrize("given, expected", [
    ("s3://bucket/out/", "s3://bucket/out"),
    ("s3://bucket", "s3://bucket"),
    ("s3://bucket/", "s3://bucket"),
    ("s3://bucket/a/b", "s3://bucket/a/b"),
])
def test_s3_urls_are_normalized(given, expected):
    assert storage.normalize(given) == expected


def test_local_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage.normalize("out/x") == str(tmp_path / "out" / "x")
    assert not storage.is_url(tmp_path) and not storage.is_url("out/x")


@pytest.mark.parametrize("url, says", [
    ("gs://bucket/out", "unsupported URL scheme 'gs'"),
    ("https://bucket.s3.amazonaws.com/out", "unsupported URL scheme 'https'"),
    ("s3://AKIAXXXXXXXX:topsecretvalue@bucket/out", "credentials and query strings do not belong in the URL"),
    ("s3://bucket/out?X-Amz-Signature=abcdef0123", "credentials and query strings do not belong in the URL"),
    ("s3:///out", "no bucket"),
    ("s3://bucket/a/../b", "'..'"),
])
def test_unusable_urls_are_refused_without_showing_secrets(url, says):
    with pytest.raises(PipelineError, match=says.replace("?", r"\?").replace("(", r"\(")) as info:
        storage.normalize(url)
    assert "topsecretvalue" not in str(info.value) and "abcdef0123" not in str(info.value)


def test_join_and_within(tmp_path):
    assert storage.join("s3://b/out", "documents", "job_id=j") == "s3://b/out/documents/job_id=j"
    assert storage.join(str(tmp_path), "documents") == str(tmp_path / "documents")
    assert storage.is_within("s3://b/out/x", "s3://b/out") and storage.is_within("s3://b/out", "s3://b/out")
    assert not storage.is_within("s3://b/outside", "s3://b/out") and not storage.is_within("s3://c/out", "s3://b/out")
    assert not storage.is_within(str(tmp_path), "s3://b") and not storage.is_within("s3://b", str(tmp_path))
    assert storage.is_within(str(tmp_path / "a"), str(tmp_path))


def test_redact_hides_userinfo_signatures_and_the_secret_variables(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    text = ("http://user:pw@host:9000/b/k?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=deadbeef "
            "key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    shown = storage.redact(text)
    for secret in ("pw@", "AKIA%2F1", "deadbeef", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI"):
        assert secret not in shown
    assert shown.startswith("http://***@host:9000/b/k?X-Amz-Credential=***")


def test_local_whole_writes_replace_the_file_and_leave_no_temporary(tmp_path):
    target = str(tmp_path / "deep" / "file.bin")
    storage.write_whole(target, lambda fh: fh.write(b"one"))
    storage.write_whole(target, lambda fh: fh.write(b"two"))
    assert storage.read_bytes(target) == b"two" and os.listdir(tmp_path / "deep") == ["file.bin"]

    def dies(fh):
        fh.write(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        storage.write_whole(target, dies)
    assert storage.read_bytes(target) == b"two" and os.listdir(tmp_path / "deep") == ["file.bin"]
    assert storage.list_files(str(tmp_path)) == [target] and storage.exists(target)
    storage.remove_tree(str(tmp_path / "deep"))
    storage.remove_tree(str(tmp_path / "deep"))
    assert not storage.exists(target) and storage.list_files(str(tmp_path)) == []


def test_local_state_folder_is_one_per_url(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    a = storage.local_state_dir("s3://b/out")
    assert a == storage.local_state_dir("s3://b/out") != storage.local_state_dir("s3://b/other")
    assert a.parent == tmp_path / "nlp-pipeline"


def test_an_unwritable_local_output_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PipelineError, match="cannot write to the output folder"):
        storage.check_writable(tmp_path / "file" / "out")
