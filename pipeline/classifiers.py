"""Sentiment and stance classifiers: the inference API of the pipeline stages.

Two kinds of model directory can be loaded:

* our own format (pipeline.heads; the shipped "builtin" artifacts in pipeline/models/, or a
  directory written by `nlp-pipeline train`): a BERT encoder plus named classification heads;
* any Hugging Face sequence classifier (local directory or hub id), whose id2label names are
  mapped onto our labels;
* any Hugging Face NLI model (a label named "entailment"), used zero-shot: the text is the premise,
  and each of our labels is a hypothesis (pipeline.labels.NLI_HYPOTHESES).

Inference is batched over length-sorted inputs (padding is what costs on CPU), under
torch.inference_mode, on CUDA when present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.config import QUANTIZE_MODES
from pipeline.encoding import encode_pairs, encode_texts, resolve_device, run_batches
from pipeline.hashing import file_sha256
from pipeline.heads import MENTION_HEAD, SENTENCE_HEAD, WEIGHTS_FILE, is_heads_dir, load_heads_model
from pipeline.labels import NLI_HYPOTHESES, SENTIMENT_LABELS, STANCE_LABELS, map_labels, nli_entailment_index

MODELS_DIR = Path(__file__).resolve().parent / "models"


def quantize_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 for the encoder's Linear layers, with per-output-channel weight scales
    (per-tensor scales lose more agreement with fp32). CPU only.

    Stay fp32: each layer's feed-forward up-projection (`intermediate`), whose input, the attention
    block's LayerNorm output, has a few large-valued dimensions that one 7-bit activation scale
    per batch resolves poorly (quantizing it cost up to 1.8 macro-F1; without it no model we
    measured lost more than 1 point, docs/models.md), and our classification heads (tiny, and
    where rounding would reach the labels directly)."""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not name.startswith("heads.") and ".intermediate." not in f".{name}."
    }
    with warnings.catch_warnings():
        # torch.ao's eager quantization warns that it is moving to the separate torchao package.
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, spec, dtype=torch.qint8)


# --------------------------------------------------------------------------- classifiers


class _Base:
    labels: tuple[str, ...]

    def __init__(self, model, tokenizer, *, name: str, version: str, artifact_hash: str, device: str, batch_size: int, max_length: int, quantize: str = "none", entailment: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.version = version
        self.artifact_hash = artifact_hash
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.quantize = quantize  # as applied: "int8" only on the CPU
        self.entailment = entailment  # an NLI model's entailment output, or None: not used zero-shot

    @property
    def model_id(self) -> str:
        """Name, version, weights hash and, when quantized, the precision: what output rows record."""
        suffix = f" {self.quantize}" if self.quantize != "none" else ""
        return f"{self.name} {self.version} {self.artifact_hash}{suffix}"

    def _run(self, rows: list[dict], forward, width: int = 3) -> np.ndarray:
        return run_batches(rows, forward, width, batch_size=self.batch_size, pad_id=self.tokenizer.pad_token_id or 0, device=self.device)

    def _zero_shot(self, premises: list[str], hypotheses: list[tuple[str, ...]]) -> np.ndarray:
        """NLI zero-shot: each premise's probabilities are the softmax, over its hypotheses (one per
        label), of the entailment logits, as in the Hugging Face zero-shot pipeline for one label."""
        firsts = [p for p, hs in zip(premises, hypotheses) for _ in hs]
        seconds = [h for hs in hypotheses for h in hs]
        rows = encode_texts(self.tokenizer, firsts, self.max_length, seconds, truncation="only_first")
        logits = self._run(rows, lambda b: self.model(**b).logits[:, [self.entailment]], width=1)
        return torch.from_numpy(logits.reshape(len(premises), len(self.labels))).softmax(-1).numpy()


class SentimentClassifier(_Base):
    labels = SENTIMENT_LABELS

    def __init__(self, model, tokenizer, *, head: str | None = None, label_index: list[int] | None = None, **kw):
        super().__init__(model, tokenizer, **kw)
        self.head = head  # our format: the head to use; None: a Hugging Face classifier
        self.label_index = label_index  # HF: our label i <- model output label_index[i] (-1: absent)

    def predict(self, texts: list[str]) -> np.ndarray:
        """(n, 3) probabilities in SENTIMENT_LABELS order."""
        if not texts:
            return np.zeros((0, 3), dtype=np.float32)
        # A repeated sentence (boilerplate, a quote carried by several articles) is scored once.
        unique, where = _distinct(texts)
        if self.entailment is not None:
            return self._zero_shot(unique, [NLI_HYPOTHESES["sentiment"]] * len(unique))[where]
        rows = encode_texts(self.tokenizer, unique, self.max_length)
        if self.head is not None:
            return self._run(rows, lambda b: self.model.probs(b, [self.head]))[where]
        return self._run(rows, lambda b: _hf_probs(self.model, b, self.label_index))[where]


class StanceClassifier(_Base):
    labels = STANCE_LABELS

    def __init__(self, model, tokenizer, *, target_heads: dict[str, str] | None = None, combine: str = "target_head", label_index: list[int] | None = None, **kw):
        super().__init__(model, tokenizer, **kw)
        # Our format: lower-cased target name -> its own whole-text head; others use "mention".
        self.target_heads = target_heads
        # How a target with its own head uses the mention head when spans are given:
        # "target_head" ignores it, "mean" averages the two heads' probabilities.
        self.combine = combine
        self.label_index = label_index

    def predict(self, items: list[tuple[str, str, list[tuple[int, int]]]]) -> np.ndarray:
        """(n, 3) probabilities in STANCE_LABELS order for (target, sentence, mention spans) items."""
        items = [(t, s, list(sp or [])) for t, s, sp in items]
        if not items:
            return np.zeros((0, 3), dtype=np.float32)
        if self.entailment is not None:
            hypotheses = [tuple(h.format(target=t) for h in NLI_HYPOTHESES["stance"]) for t, _, _ in items]
            return self._zero_shot([s for _, s, _ in items], hypotheses)
        if self.target_heads is None:
            rows = encode_texts(self.tokenizer, [t for t, _, _ in items], self.max_length, [s for _, s, _ in items], truncation="only_second")
            return self._run(rows, lambda b: _hf_probs(self.model, b, self.label_index))

        # Each item's own whole-text head, or None for a target only the mention head reads.
        own_head = [self.target_heads.get(t.strip().lower()) for t, _, _ in items]
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
            pairs = [(_first_mention(*items[i]), items[i][1], items[i][2]) for i in need]
            rows = encode_pairs(self.tokenizer, pairs, self.max_length)
            out[need] = self._run(rows, lambda b: self.model.probs(b, [MENTION_HEAD]))
        return out


def _distinct(texts: list[str]) -> tuple[list[str], list[int]]:
    """The distinct texts in first-seen order, and for each input the index of its text among them."""
    index: dict[str, int] = {}
    where = [index.setdefault(t, len(index)) for t in texts]
    return list(index), where


def _first_mention(target: str, text: str, spans) -> str:
    for start, end in sorted(spans):
        if 0 <= start < end <= len(text):
            return text[start:end]
    return target


def _hf_probs(model, batch, label_index: list[int]) -> torch.Tensor:
    logits = model(**{k: v for k, v in batch.items() if k != "target_mask"}).logits
    probs = logits.float().softmax(-1)
    cols = [probs[:, j] if j >= 0 else torch.zeros_like(probs[:, 0]) for j in label_index]
    return torch.stack(cols, dim=-1)


# --------------------------------------------------------------------------- loading


def _load(spec: str, task: str, device: str | None, batch_size: int, max_length: int, quantize: str):
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, not {quantize!r}")
    device = resolve_device(device)
    # int8 kernels exist for the CPU only; on CUDA the model runs as loaded. "auto" quantizes only the
    # shipped models: their int8 cost is measured, while another encoder can lose far more (an
    # mpnet-base stance model fell from 0.838 to 0.659 macro-F1 on news).
    int8 = device == "cpu" and (quantize == "int8" or (quantize == "auto" and spec == "builtin"))
    path = MODELS_DIR / task if spec == "builtin" else Path(spec)
    common = dict(device=device, batch_size=batch_size, max_length=max_length, quantize="int8" if int8 else "none")
    cls = SentimentClassifier if task == "sentiment" else StanceClassifier
    if spec == "builtin" and not is_heads_dir(path):
        raise FileNotFoundError(f"builtin {task} model is missing in {path}; train one with `nlp-pipeline train --task {task}`")
    if is_heads_dir(path):
        model, tokenizer, meta = load_heads_model(path, device)
        if meta.get("task") != task:
            raise ValueError(f"{path} holds a {meta.get('task')} model, not a {task} model")
        common.update(name=meta.get("name", path.name), version=meta.get("version", "0"), artifact_hash=file_sha256(path / WEIGHTS_FILE)[:12])
        model = quantize_int8(model) if int8 else model
        if task == "sentiment":
            return cls(model, tokenizer, head=SENTENCE_HEAD, **common)
        return cls(model, tokenizer, target_heads=meta["target_heads"], combine=meta.get("combine", "target_head"), **common)

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(spec).to(device).eval()
    model = quantize_int8(model) if int8 else model
    tokenizer = AutoTokenizer.from_pretrained(spec)
    entailment = nli_entailment_index(model.config.id2label)
    label_index = None if entailment is not None else map_labels(model.config.id2label, task)
    weights = next((p for p in (path / "model.safetensors", path / "pytorch_model.bin") if p.is_file()), None)
    artifact_hash = file_sha256(weights)[:12] if weights else getattr(model.config, "_commit_hash", None) or "unknown"
    common.update(name=str(spec), version=getattr(model.config, "_commit_hash", None) or "local", artifact_hash=artifact_hash)
    return cls(model, tokenizer, label_index=label_index, entailment=entailment, **common)


def load_sentiment(spec: str = "builtin", *, device: str | None = None, batch_size: int = 32, max_length: int = 128, quantize: str = "none") -> SentimentClassifier:
    """Load the sentiment classifier: "builtin", a model directory, or a Hugging Face model id.
    quantize="int8" runs it with dynamic int8 weights on the CPU (see quantize_int8)."""
    return _load(spec, "sentiment", device, batch_size, max_length, quantize)


def load_stance(spec: str = "builtin", *, device: str | None = None, batch_size: int = 32, max_length: int = 128, quantize: str = "none") -> StanceClassifier:
    """Load the stance classifier: "builtin", a model directory, or a Hugging Face model id.
    quantize="int8" runs it with dynamic int8 weights on the CPU (see quantize_int8)."""
    return _load(spec, "stance", device, batch_size, max_length, quantize)
