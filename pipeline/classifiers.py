"""Sentiment and stance classifiers: the inference API of the pipeline stages.

The loader reads what a model is once and picks its backend:

* HeadsClassifier: our own format (pipeline.heads; the shipped "builtin" artifacts in
  pipeline/models/, or a directory written by `nlp-pipeline train`);
* HFClassifier: any Hugging Face sequence classifier (local directory or hub id), whose id2label
  names are mapped onto our labels;
* NliZeroShotClassifier: any Hugging Face NLI model (a label named "entailment"), used zero-shot:
  the text is the premise, and each of our labels is a hypothesis (pipeline.labels.NLI_HYPOTHESES).

Inference is batched over length-sorted inputs (pipeline.encoding), under torch.inference_mode,
on CUDA when present.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.config import QUANTIZE_MODES
from pipeline.encoding import encode_pairs, encode_texts, resolve_device, run_batches
from pipeline.hashing import file_sha256
from pipeline.heads import MENTION_HEAD, SENTENCE_HEAD, WEIGHTS_FILE, HeadsModel, is_heads_dir, load_heads_model
from pipeline.labels import NLI_HYPOTHESES, TASK_LABELS, map_labels, nli_entailment_index
from pipeline.shipped import TIERS, model_folder



class Classifier:
    """A loaded model for one task. `predict` takes the task's inputs; each backend scores them
    in `_probs`, from (target, sentence, mention spans) items whose target is None for sentiment."""

    def __init__(self, model, tokenizer, *, task: str, name: str, version: str, artifact_hash: str, device: str, batch_size: int, max_length: int, quantize: str = "none"):
        self.model = model
        self.tokenizer = tokenizer
        self.task = task
        self.labels = TASK_LABELS[task]
        self.name = name
        self.version = version
        self.artifact_hash = artifact_hash
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.quantize = quantize  # as applied: "int8" only on the CPU

    @property
    def model_id(self) -> str:
        """Name, version, weights hash and, when quantized, the precision: what output rows record."""
        suffix = f" {self.quantize}" if self.quantize != "none" else ""
        return f"{self.name} {self.version} {self.artifact_hash}{suffix}"

    def predict(self, inputs, whole: list[bool] | None = None) -> np.ndarray:
        """(n, 3) probabilities in self.labels order: of sentences (sentiment), or of
        (target, text, mention spans) items (stance). For stance, `whole[i]` says whether item i is
        a whole text (a tweet, a headline) rather than one sentence of a longer document; None: all whole."""
        if self.task == "stance":
            items = [(t, s, list(sp or [])) for t, s, sp in inputs]
            whole = [True] * len(items) if whole is None else list(whole)
            if len(whole) != len(items):
                raise ValueError(f"whole has {len(whole)} flags for {len(items)} items")
            return self._probs(items, whole) if items else np.zeros((0, 3), dtype=np.float32)
        # A repeated sentence (boilerplate, a quote carried by several articles) is scored once.
        unique, where = _distinct(list(inputs))
        return self._probs([(None, t, []) for t in unique], [True] * len(unique))[where] if unique else np.zeros((0, 3), dtype=np.float32)

    def _probs(self, items: list[tuple], whole: list[bool]) -> np.ndarray:
        raise NotImplementedError

    def reads_whole_text(self, target: str) -> bool:
        """Whether the model has a head of its own that learned `target` from whole short texts
        (tweets), and so can read a text that never names the target."""
        return False

    def fits(self, text: str) -> bool:
        """Whether `text` is whole within max_length tokens."""
        # One token past the limit is enough to know, and spares tokenizing a long document whole.
        ids = self.tokenizer(text, add_special_tokens=True, truncation=True, max_length=self.max_length + 1)["input_ids"]
        return len(ids) <= self.max_length

    def _run(self, rows: list[dict], forward, width: int = 3) -> np.ndarray:
        return run_batches(rows, forward, width, batch_size=self.batch_size, pad_id=self.tokenizer.pad_token_id or 0, device=self.device)


class HeadsClassifier(Classifier):
    """Our format. Sentiment reads the sentence head. Stance reads a whole text (a tweet) with the
    target's own whole-text head where it has one (Russia, Ukraine), and everything else with the
    mention head: each head reads the unit it learned from (tweets; marked mentions in news sentences)."""

    def __init__(self, model, tokenizer, *, text_head: str | None, target_heads: dict[str, str], combine: str = "target_head", **kw):
        super().__init__(model, tokenizer, **kw)
        self.text_head = text_head  # the head of items without a target
        self.target_heads = target_heads  # lower-cased target name -> its own whole-text head
        # How a target with its own head uses the mention head when spans are given:
        # "target_head" ignores it, "mean" averages the two heads' probabilities.
        self.combine = combine

    def reads_whole_text(self, target: str) -> bool:
        return target.strip().lower() in self.target_heads

    def _own_head(self, target: str | None, whole: bool) -> str | None:
        """The head that reads an item on its own, or None for the mention head."""
        if target is None:
            return self.text_head
        return self.target_heads.get(target.strip().lower()) if whole else None

    def _probs(self, items, whole):
        own_head = [self._own_head(t, w) for (t, _, _), w in zip(items, whole)]
        out = self._mention_probs(items, own_head)
        own = [i for i, head in enumerate(own_head) if head is not None]
        if not own:
            return out
        # Whole-text heads: each distinct sentence is encoded once and read by every head that
        # needs it (news sentences often name both Russia and Ukraine).
        heads = sorted({own_head[i] for i in own})
        unique, where = _distinct([items[i][1] for i in own])
        rows = encode_texts(self.tokenizer, unique, self.max_length)
        probs = self._run(rows, lambda b: self.model.probs(b, heads), width=3 * len(heads))
        for i, row in zip(own, where):
            h = heads.index(own_head[i])
            p = probs[row, 3 * h : 3 * h + 3]
            out[i] = (out[i] + p) / 2 if self.combine == "mean" and items[i][2] else p
        return out

    def _mention_probs(self, items, own_head: list[str | None]) -> np.ndarray:
        # Only items that will use the mention head are encoded for it.
        need = [i for i, ((_, _, sp), head) in enumerate(zip(items, own_head)) if head is None or (self.combine == "mean" and sp)]
        out = np.zeros((len(items), 3), dtype=np.float32)
        if need:
            # The mention head was trained with the mention's own words as the first segment
            # (NewsMTSC has no target names), so pass the first mention rather than the name.
            pairs = [(first_mention(*items[i]), items[i][1], items[i][2]) for i in need]
            rows = encode_pairs(self.tokenizer, pairs, self.max_length)
            out[need] = self._run(rows, lambda b: self.model.probs(b, [MENTION_HEAD]))
        return out


class HFClassifier(Classifier):
    """A Hugging Face sequence classifier; a stance model reads (target, sentence) as a text pair."""

    def __init__(self, model, tokenizer, *, label_index: list[int], **kw):
        super().__init__(model, tokenizer, **kw)
        self.label_index = label_index  # our label i <- model output label_index[i] (-1: absent)

    def _probs(self, items, whole):
        sentences = [s for _, s, _ in items]
        if self.task == "stance":
            rows = encode_texts(self.tokenizer, [t for t, _, _ in items], self.max_length, sentences, truncation="only_second")
        else:
            rows = encode_texts(self.tokenizer, sentences, self.max_length)
        return self._run(rows, self._mapped_probs)

    def _mapped_probs(self, batch) -> torch.Tensor:
        probs = self.model(**batch).logits.float().softmax(-1)
        cols = [probs[:, j] if j >= 0 else torch.zeros_like(probs[:, 0]) for j in self.label_index]
        return torch.stack(cols, dim=-1)


class NliZeroShotClassifier(Classifier):
    """An NLI model: each item's probabilities are the softmax, over its hypotheses (one per
    label), of the entailment logits, as in the Hugging Face zero-shot pipeline for one label."""

    def __init__(self, model, tokenizer, *, entailment: int, **kw):
        super().__init__(model, tokenizer, **kw)
        self.entailment = entailment  # the model's entailment output

    def _probs(self, items, whole):
        # Sentiment hypotheses name no target, so formatting leaves them as they are.
        hypotheses = [tuple(h.format(target=t) for h in NLI_HYPOTHESES[self.task]) for t, _, _ in items]
        premises = [s for (_, s, _), hs in zip(items, hypotheses) for _ in hs]
        rows = encode_texts(self.tokenizer, premises, self.max_length, [h for hs in hypotheses for h in hs], truncation="only_first")
        logits = self._run(rows, lambda b: self.model(**b).logits[:, [self.entailment]], width=1)
        return torch.from_numpy(logits.reshape(len(items), len(self.labels))).softmax(-1).numpy()


def _distinct(texts: list[str]) -> tuple[list[str], list[int]]:
    """The distinct texts in first-seen order, and for each input the index of its text among them."""
    index: dict[str, int] = {}
    where = [index.setdefault(t, len(index)) for t in texts]
    return list(index), where


def first_mention(target: str, text: str, spans) -> str:
    """The words of the first valid mention span, which the mention head reads as its first segment
    (NewsMTSC has no target names); the target's name when no span is valid."""
    for start, end in sorted(spans):
        if 0 <= start < end <= len(text):
            return text[start:end]
    return target


def linear_kind(name: str) -> str | None:
    """attention / up / down for a Linear of an encoder layer (BERT and MPNet names), None for any
    other Linear (our heads, a classifier head)."""
    if not re.search(r"\.layer\.\d+\.", name):
        return None
    if ".intermediate." in name:
        return "up"
    if ".attention." in name:
        return "attention"
    return "down"


# The one kind of Linear that int8 breaks, per encoder architecture (scripts/int8_rules.py, docs/models.md):
# MiniLM (bert) lost up to 1.8 points with the feed-forward up-projection in int8, mpnet 12 points
# with the down-projection, while every other kind stays within a point.
INT8_FRAGILE = {"bert": "up", "mpnet": "down"}


def int8_rule(model_type: str):
    """Which Linears quantize_int8 makes int8 for an architecture: each layer's, but its fragile kind."""
    fragile = INT8_FRAGILE.get(model_type, "up")
    return lambda name: linear_kind(name) not in (None, fragile)


def quantize_int8(model: nn.Module, rule=None) -> nn.Module:
    """Dynamic int8 for the encoder's Linear layers, with per-output-channel weight scales
    (per-tensor scales lose more agreement with fp32). CPU only.

    Stay fp32: the kind of Linear int8 breaks in this architecture (INT8_FRAGILE; for MiniLM the
    feed-forward up-projection, whose input, the attention block's LayerNorm output, has a few
    large-valued dimensions that one 7-bit activation scale per batch resolves poorly), and the
    classification heads (tiny, and where rounding would reach the labels directly). `rule(module
    name)`, when given, says instead which Linears become int8 (scripts/int8_rules.py compares rules)."""
    if rule is None:
        config = model.encoder.config if isinstance(model, HeadsModel) else model.config
        rule = int8_rule(config.model_type)
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and rule(name)
    }
    with warnings.catch_warnings():
        # torch.ao's eager quantization warns that it is moving to the separate torchao package.
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, spec, dtype=torch.qint8)


# --------------------------------------------------------------------------- loading


def _load(spec: str, task: str, device: str | None, batch_size: int, max_length: int, quantize: str) -> Classifier:
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, not {quantize!r}")
    device = resolve_device(device)
    # int8 kernels exist for the CPU only; on CUDA the model runs as loaded. "auto" quantizes only the
    # shipped models: their int8 cost is measured, while another encoder can lose far more (an
    # mpnet-base stance model fell from 0.838 to 0.659 macro-F1 on news).
    int8 = device == "cpu" and (quantize == "int8" or (quantize == "auto" and spec == "builtin"))
    path = model_folder(spec, task)
    common = dict(task=task, device=device, batch_size=batch_size, max_length=max_length, quantize="int8" if int8 else "none")
    if is_heads_dir(path):
        return _load_heads(path, int8, common)
    if spec in TIERS:
        raise FileNotFoundError(f"the {spec} {task} model is missing in {path}; train one with `nlp-pipeline train --task {task}`")
    return _load_hf(spec, path, int8, common)


def _load_heads(path: Path, int8: bool, common: dict) -> HeadsClassifier:
    task = common["task"]
    model, tokenizer, meta = load_heads_model(path, common["device"])
    if meta.get("task") != task:
        raise ValueError(f"{path} holds a {meta.get('task')} model, not a {task} model")
    return HeadsClassifier(
        quantize_int8(model) if int8 else model,
        tokenizer,
        text_head=SENTENCE_HEAD if task == "sentiment" else None,
        target_heads=meta.get("target_heads", {}),
        combine=meta.get("combine", "target_head"),
        name=meta.get("name", path.name),
        version=meta.get("version", "0"),
        artifact_hash=file_sha256(path / WEIGHTS_FILE)[:12],
        **common,
    )


def _load_hf(spec: str, path: Path, int8: bool, common: dict) -> Classifier:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(spec).to(common["device"]).eval()
    model = quantize_int8(model) if int8 else model
    tokenizer = AutoTokenizer.from_pretrained(spec)
    commit = getattr(model.config, "_commit_hash", None)
    weights = next((p for p in (path / "model.safetensors", path / "pytorch_model.bin") if p.is_file()), None)
    identity = dict(name=str(spec), version=commit or "local", artifact_hash=file_sha256(weights)[:12] if weights else commit or "unknown")
    entailment = nli_entailment_index(model.config.id2label)
    if entailment is not None:
        return NliZeroShotClassifier(model, tokenizer, entailment=entailment, **identity, **common)
    return HFClassifier(model, tokenizer, label_index=map_labels(model.config.id2label, common["task"]), **identity, **common)


def load_sentiment(spec: str = "builtin", *, device: str | None = None, batch_size: int = 32, max_length: int = 128, quantize: str = "none") -> Classifier:
    """Load the sentiment classifier: "builtin", a model directory, or a Hugging Face model id.
    quantize="int8" runs it with dynamic int8 weights on the CPU (see quantize_int8)."""
    return _load(spec, "sentiment", device, batch_size, max_length, quantize)


def load_stance(spec: str = "builtin", *, device: str | None = None, batch_size: int = 32, max_length: int = 128, quantize: str = "none") -> Classifier:
    """Load the stance classifier: "builtin", a model directory, or a Hugging Face model id.
    quantize="int8" runs it with dynamic int8 weights on the CPU (see quantize_int8)."""
    return _load(spec, "stance", device, batch_size, max_length, quantize)
