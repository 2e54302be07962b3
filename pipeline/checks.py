"""The model checks `run` and `submit` make before anything is queued (the output's is
`pipeline.io.storage.check_writable`): a job that cannot succeed fails with one line, instead of
every batch retrying the same impossible step."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.shipped import TIERS, model_folder

# tokenizer_config.json says 1e30 when a tokenizer has no limit of its own.
_NO_LIMIT = 1_000_000


def _model_files(spec: str, task: str) -> dict[str, dict]:
    """config.json and tokenizer_config.json of a model spec (a tier, a folder or a hub id),
    without loading its weights."""
    folder = model_folder(spec, task)
    found = {}
    if folder.is_dir():
        folder = _encoder_folder(folder, task)
        for name in ("config.json", "tokenizer_config.json"):
            if (folder / name).is_file():
                found[name] = json.loads((folder / name).read_text(encoding="utf-8"))
        if "config.json" not in found:
            raise ConfigError(f"{task}.model: {folder} holds no config.json; is it a model folder?")
        return found
    if spec in TIERS:
        raise ConfigError(f"{task}.model: this version ships no {spec} {task} model ({folder} is missing)")
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ConfigError(f"{task}.model: no such model folder: {folder}")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        found["config.json"] = json.loads(Path(hf_hub_download(spec, "config.json")).read_text(encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001 - any failure to fetch means the workers would fail too
        offline = " (HF_HUB_OFFLINE is set: only models already in the local cache load)" if os.environ.get("HF_HUB_OFFLINE") else ""
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{task}.model: cannot load {spec!r} from the Hugging Face hub{offline}: {first}") from None
    try:
        found["tokenizer_config.json"] = json.loads(Path(hf_hub_download(spec, "tokenizer_config.json")).read_text(encoding="utf-8"))
    except (EntryNotFoundError, OSError, ValueError):
        pass  # optional: the limit then comes from config.json
    return found


def _encoder_folder(folder: Path, task: str) -> Path:
    from pipeline import accurate_base

    meta = folder / "labels.json"
    try:
        return accurate_base.encoder_folder(folder, json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else {})
    except ConfigError as exc:
        raise ConfigError(f"{task}.model: {exc}") from None


def token_limit(files: dict[str, dict]) -> int | None:
    tokenizer_limit = files.get("tokenizer_config.json", {}).get("model_max_length")
    if isinstance(tokenizer_limit, int) and tokenizer_limit < _NO_LIMIT:
        return tokenizer_limit
    positions = files["config.json"].get("max_position_embeddings")
    return positions if isinstance(positions, int) else None


def check_models(config: Config) -> None:
    """Every configured model can be found, and max_length fits each transformer."""
    import spacy.util

    ner = config.ner.model
    if not (spacy.util.is_package(ner) or Path(ner).is_dir()):
        raise ConfigError(f"ner.model: {ner!r} is neither an installed spaCy pipeline nor a folder")
    for task, section in (("sentiment", config.sentiment), ("stance", config.stance)):
        limit = token_limit(_model_files(section.model, task))
        if limit is not None and section.max_length > limit:
            raise ConfigError(f"{task}.max_length: {section.max_length} is above the model's limit of {limit} tokens")
