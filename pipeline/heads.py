"""Our model format, "pipeline-heads-v1": a transformer encoder with named 3-way heads.

A model directory holds the fp16 weights (model.safetensors), the encoder config, the tokenizer
and labels.json (format, task, name, version, labels, heads and, for stance, which targets have
a head of their own). Written by training (pipeline_train), read by pipeline.classifiers.

A delta model (labels.json has "base": name and sha256 of the base encoder's weights) holds only
what training changed: the heads, and either the encoder's unfrozen top layers or low-rank factors
(labels.json "base"."lora": rank and alpha; tensors <Linear>.lora_A and <Linear>.lora_B) that are
folded into the base's weights at load. Its encoder config and tokenizer are the base's, read from
the verified base (pipeline.accurate_base), which loading puts the delta over.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from pipeline import accurate_base
from pipeline.hashing import file_sha256

FORMAT = "pipeline-heads-v1"
WEIGHTS_FILE = "model.safetensors"
META_FILE = "labels.json"

# The sentiment model's one head, and the stance head for any target without a head of its own.
SENTENCE_HEAD = "sentence"
MENTION_HEAD = "mention"

# Names of a Linear's low-rank factors in a delta's weights (written by pipeline_train.lora).
LORA_A, LORA_B = "lora_A", "lora_B"


class HeadsModel(nn.Module):
    """A transformer encoder with named 3-way heads on mean-pooled token states.

    Head kinds:
      "text": input is the text alone; features = mean of its token states.
      "pair": input is (target, text with [[mentions]] marked); features = mean of all token
              states concatenated with the mean over the marked mention's tokens.
    """

    def __init__(self, encoder: nn.Module, heads: dict[str, str], n_labels: int = 3, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.head_kinds = dict(heads)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(self.feature_width(kind), n_labels) for name, kind in heads.items()})

    def feature_width(self, kind: str) -> int:
        return self.encoder.config.hidden_size * (2 if kind == "pair" else 1)

    def features(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = batch["attention_mask"]
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        states = self.encoder(**inputs).last_hidden_state
        pooled = _masked_mean(states, mask)
        if "target_mask" not in batch:
            return pooled
        target_mask = batch["target_mask"]
        # A mention cut off by truncation leaves an empty mask: fall back to the whole input.
        empty = target_mask.sum(1, keepdim=True) == 0
        target_mask = torch.where(empty, mask, target_mask)
        return torch.cat([pooled, _masked_mean(states, target_mask)], dim=-1)

    def logits(self, head: str, features: torch.Tensor) -> torch.Tensor:
        return self.heads[head](self.dropout(features))

    def probs(self, batch: dict[str, torch.Tensor], heads: list[str]) -> torch.Tensor:
        """The label probabilities of each of `heads`, side by side, from one encoder pass."""
        features = self.features(batch)
        return torch.cat([self.logits(h, features).softmax(-1) for h in heads], dim=-1)


def _masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(states.dtype)
    return (states * m).sum(1) / m.sum(1).clamp(min=1.0)


def write_meta(model_dir: str | Path, meta: dict) -> None:
    (Path(model_dir) / META_FILE).write_text(json.dumps({"format": FORMAT, **meta}, indent=2) + "\n")


def save_heads_model(model: HeadsModel, tokenizer, out_dir: str | Path, meta: dict, trained: set[str] | None = None) -> str:
    """Write fp16 weights (only the `trained` tensors when given: a delta over meta["base"]) and
    labels.json, and for a whole model the encoder config and tokenizer; return the weights' sha256."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items() if trained is None or k in trained}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": FORMAT})
    (out / WEIGHTS_FILE).chmod(0o644)  # safetensors creates it owner-only; installed packages need it readable
    if "base" not in meta:
        model.encoder.config.save_pretrained(out)
        tokenizer.save_pretrained(out)
    write_meta(out, meta)
    return file_sha256(out / WEIGHTS_FILE)


def base_reference(base_dir: str | Path) -> dict:
    """What a delta model records of the encoder it was trained on top of."""
    return {"name": Path(base_dir).name, "sha256": file_sha256(Path(base_dir) / WEIGHTS_FILE)}


def load_heads_model(model_dir: str | Path, device: str = "cpu"):
    """Load a model written by save_heads_model: (model in eval mode, tokenizer, labels.json dict)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    model_dir = Path(model_dir)
    meta = json.loads((model_dir / META_FILE).read_text())
    encoder_dir = accurate_base.encoder_folder(model_dir, meta)
    if "base" in meta:
        # The base's pooler is left out (add_pooling_layer=False): transformers' report of its
        # unused weights, and its progress bar, would otherwise land in every worker's log at every load.
        verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            encoder = AutoModel.from_pretrained(encoder_dir, add_pooling_layer=False)
        finally:
            hf_logging.set_verbosity(verbosity)
            if bar:
                hf_logging.enable_progress_bar()
    else:
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(model_dir), add_pooling_layer=False)
    model = HeadsModel(encoder, meta["heads"])
    state = {k: v.float() for k, v in load_file(str(model_dir / WEIGHTS_FILE)).items()}
    if "lora" in meta.get("base", {}):
        merge_low_rank(model, state, meta["base"]["lora"])
    missing, unexpected = model.load_state_dict(state, strict="base" not in meta)
    if unexpected or any(k.startswith("heads.") for k in missing):
        raise ValueError(f"{model_dir} does not fit its encoder: unexpected {unexpected[:3]}, missing {missing[:3]}")
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    return model, tokenizer, meta


def merge_low_rank(model: HeadsModel, state: dict[str, torch.Tensor], lora: dict) -> None:
    """Fold each Linear's low-rank factors into its weight (W += alpha / rank * B @ A) and take
    them out of `state`, so that what is left loads as a plain model."""
    scale = lora["alpha"] / lora["rank"]
    suffix = "." + LORA_A
    for key in [k for k in state if k.endswith(suffix)]:
        name = key[: -len(suffix)]
        a, b = state.pop(key), state.pop(f"{name}.{LORA_B}")
        with torch.no_grad():
            model.get_submodule(name).weight += (b @ a) * scale


def is_heads_dir(path: Path) -> bool:
    meta = path / META_FILE
    return meta.is_file() and json.loads(meta.read_text()).get("format") == FORMAT
