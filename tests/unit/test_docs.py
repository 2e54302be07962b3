"""Docs that cannot drift: every CLI command and every configuration key is documented."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from pipeline.cli import DELEGATED, build_parser
from pipeline.config import DEFAULT_CONFIG, DEFAULT_WORKER_SETTINGS, Config, WorkerSettings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", commands())
def test_every_command_is_in_the_readme(command):
    assert f"nlp-pipeline {command}" in README


def test_the_delegated_commands_are_commands():
    assert set(DELEGATED) <= set(commands())


def leaf_keys(cls, prefix="") -> list[str]:
    keys = []
    for f in dataclasses.fields(cls):
        if f.name == "targets" and cls is Config:
            continue  # resolved from stance.targets, not a key of the file
        if dataclasses.is_dataclass(f.type) or (isinstance(f.type, str) and f.type.endswith("Config")):
            keys += leaf_keys(type(getattr(cls(), f.name)), f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def commented_keys(path) -> dict[str, bool]:
    """key path -> whether its line carries a comment, for every leaf key of a YAML file."""
    found, section = {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(\s*)([a-z_]+):(.*)$", line)
        if not m:
            continue
        indent, key, rest = m.groups()
        if not indent:
            section = key
            continue
        found[f"{section}.{key}"] = "#" in rest
    return found


@pytest.mark.parametrize("cls, path", [(Config, DEFAULT_CONFIG), (WorkerSettings, DEFAULT_WORKER_SETTINGS)])
def test_every_config_key_is_in_its_defaults_file_with_a_comment(cls, path):
    keys = ["worker." + k for k in leaf_keys(cls)] if cls is WorkerSettings else leaf_keys(cls)
    documented = commented_keys(path)
    assert sorted(documented) == sorted(keys)
    assert [k for k, commented in documented.items() if not commented] == []


@pytest.mark.parametrize("cls, path", [(Config, DEFAULT_CONFIG), (WorkerSettings, DEFAULT_WORKER_SETTINGS)])
def test_the_defaults_files_match_the_dataclasses(cls, path):
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    if cls is WorkerSettings:
        assert values["worker"] == dataclasses.asdict(WorkerSettings())
    else:
        defaults = Config().to_dict()
        defaults.pop("targets")
        assert values == defaults
