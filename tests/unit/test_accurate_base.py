"""The accurate tier's base encoder: where it is looked for, and what is refused."""

from __future__ import annotations

import pytest

from pipeline import accurate_base
from pipeline.errors import ConfigError


def test_a_missing_base_is_one_line_that_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv(accurate_base.BASE_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError) as err:
        accurate_base.require_base()
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "nowhere") in message and "make models-accurate" in message


def test_a_folder_whose_files_differ_from_the_release_is_refused_file_by_file(tmp_path, monkeypatch):
    for name in accurate_base.OFFICIAL_SHA256:
        (tmp_path / name).write_text("not the release")
    (tmp_path / "vocab.txt").unlink()
    monkeypatch.setenv(accurate_base.BASE_ENV, str(tmp_path))
    with pytest.raises(ConfigError) as err:
        accurate_base.require_base()
    message = str(err.value)
    assert "model.safetensors has sha256" in message and "vocab.txt is missing" in message
    assert "\n" not in message and "remove it and install it" in message


def test_install_refuses_to_overwrite(tmp_path):
    with pytest.raises(ConfigError, match="exists"):
        accurate_base.install(tmp_path)


def test_the_wheels_are_pinned_by_hash():
    pins = [line for line in accurate_base.REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    assert len(pins) == 5 and all("==0.0.1 --hash=sha256:" in line for line in pins)
