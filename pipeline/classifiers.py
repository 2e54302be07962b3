"""Sentiment and stance classifiers: the inference API of the pipeline stages.

Two kinds of model directory can be loaded:

* our own format (the shipped "builtin" artifacts in pipeline/models/, or a directory written
  by `python -m pipeline.training.train`): a BERT encoder plus named classification heads,
  described by `labels.json` (`"format": "pipeline-heads-v1"`), weights in fp16 safetensors;
* any Hugging Face sequence classifier (local directory or hub id), whose id2label names are
  mapped onto our labels;
* any Hugging Face NLI model (a label named "entailment"), used zero-shot: the text is the premise,
  and each of our labels is a hypothesis (NLI_HYPOTHESES).

Inference is batched over length-sorted inputs (padding is what costs on CPU), under
torch.inference_mode, on CUDA when present.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.config import QUANTIZE_MODES

SENTIMENT_LABELS = ("negative", "neutral", "positive")
STANCE_LABELS = ("against", "neutral", "favor")

FORMAT = "pipeline-heads-v1"
WEIGHTS_FILE = "model.safetensors"
MODELS_DIR = Path(__file__).resolve().parent / "models"

# Markers put around target mentions in the "mention" head's input.
MARK_OPEN, MARK_CLOSE = "[[", "]]"

# Zero-shot with an NLI model: one hypothesis per label, in our label order, against the text as
# premise. Stance names the configured target (e.g. "NATO"), not the mention's words.
NLI_HYPOTHESES = {
    "sentiment": ("This text is negative.", "This text is neutral.", "This text is positive."),
    "stance": ("This text is against {target}.", "This text is neutral about {target}.", "This text is in favor of {target}."),
}


# --------------------------------------------------------------------------- model


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
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict(
            {name: nn.Linear(hidden * (2 if kind == "pair" else 1), n_labels) for name, kind in heads.items()}
        )

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


def _masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(states.dtype)
    return (states * m).sum(1) / m.sum(1).clamp(min=1.0)


def save_heads_model(model: HeadsModel, tokenizer, out_dir: str | Path, meta: dict) -> str:
    """Write fp16 weights, encoder config, tokenizer and labels.json; return the weights' sha256."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": FORMAT})
    (out / WEIGHTS_FILE).chmod(0o644)  # safetensors creates it owner-only; installed packages need it readable
    model.encoder.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "labels.json").write_text(json.dumps({"format": FORMAT, **meta}, indent=2) + "\n")
    return _sha256(out / WEIGHTS_FILE)


def load_heads_model(model_dir: str | Path, device: str = "cpu"):
    """Load a model written by save_heads_model: (model in eval mode, tokenizer, labels.json dict)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    model_dir = Path(model_dir)
    meta = json.loads((model_dir / "labels.json").read_text())
    encoder = AutoModel.from_config(AutoConfig.from_pretrained(model_dir), add_pooling_layer=False)
    model = HeadsModel(encoder, meta["heads"])
    state = {k: v.float() for k, v in load_file(str(model_dir / WEIGHTS_FILE)).items()}
    model.load_state_dict(state)
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return model, tokenizer, meta


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_heads_dir(path: Path) -> bool:
    labels = path / "labels.json"
    return labels.is_file() and json.loads(labels.read_text()).get("format") == FORMAT


# --------------------------------------------------------------------------- encoding


def mark_mentions(text: str, spans) -> tuple[str, list[tuple[int, int]]]:
    """Wrap each span of `text` in [[ ]]; return the new text and the spans of the marked mentions."""
    marked, new_spans, pos = [], [], 0
    for start, end in sorted((int(s), int(e)) for s, e in spans):
        if start < pos or end <= start or end > len(text):
            continue  # overlapping or invalid span
        marked.append(text[pos:start])
        offset = sum(len(p) for p in marked)
        piece = f"{MARK_OPEN}{text[start:end]}{MARK_CLOSE}"
        marked.append(piece)
        new_spans.append((offset, offset + len(piece)))
        pos = end
    marked.append(text[pos:])
    return "".join(marked), new_spans


def encode_texts(tokenizer, texts: list[str], max_length: int, seconds: list[str] | None = None, truncation: bool | str = True) -> list[dict]:
    """Encode texts, or (text, second) pairs when `seconds` is given, as one row per input."""
    if not texts:
        return []  # fast tokenizers reject an empty batch
    enc = tokenizer(list(texts), seconds, truncation=truncation, max_length=max_length)
    return [{k: enc[k][i] for k in enc.keys()} for i in range(len(texts))]


def encode_pairs(tokenizer, items, max_length: int) -> list[dict]:
    """Encode (target, text, spans) items as (target, marked text) pairs with a mention mask."""
    if not items:
        return []  # fast tokenizers reject an empty batch
    firsts, seconds, marks = [], [], []
    for target, text, spans in items:
        marked, new_spans = mark_mentions(text, spans)
        firsts.append(target)
        seconds.append(marked)
        marks.append(new_spans)
    enc = tokenizer(firsts, seconds, truncation="only_second", max_length=max_length, return_offsets_mapping=True)
    out = []
    for i in range(len(firsts)):
        seq_ids = enc.sequence_ids(i)
        target_mask = [
            int(seq == 1 and any(s < e_tok and b_tok < e for s, e in marks[i]))
            for seq, (b_tok, e_tok) in zip(seq_ids, enc["offset_mapping"][i])
        ]
        row = {k: enc[k][i] for k in enc.keys() if k != "offset_mapping"}
        row["target_mask"] = target_mask
        out.append(row)
    return out


def collate(rows: list[dict], pad_id: int, device) -> dict[str, torch.Tensor]:
    """Pad a list of encoded rows to the longest one."""
    width = max(len(r["input_ids"]) for r in rows)
    batch = {}
    for key in rows[0]:
        fill = pad_id if key == "input_ids" else 0
        batch[key] = torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in rows], device=device)
    return batch


def sorted_batches(rows: list[dict], batch_size: int):
    """Yield (indices, rows) batches of similar length; callers put results back by index."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        yield idx, [rows[i] for i in idx]


def resolve_device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


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

    def _run(self, rows: list[dict], forward, width: int | None = None) -> np.ndarray:
        """Run `forward(batch) -> probs` over length-sorted batches; return probs in input order."""
        out = np.zeros((len(rows), width or len(self.labels)), dtype=np.float32)
        if not rows:
            return out
        pad_id = self.tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for idx, chunk in sorted_batches(rows, self.batch_size):
                out[idx] = forward(collate(chunk, pad_id, self.device)).float().cpu().numpy()
        return out

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
            return self._run(rows, lambda b: self.model.logits(self.head, self.model.features(b)).softmax(-1))[where]
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
        probs = self._run(rows, lambda b: self._heads_probs(heads, b), width=3 * len(heads))
        for i, row in zip(own, where):
            h = heads.index(own_head[i])
            p = probs[row, 3 * h : 3 * h + 3]
            out[i] = (out[i] + p) / 2 if self.combine == "mean" and items[i][2] else p
        return out

    def _heads_probs(self, heads: list[str], batch) -> torch.Tensor:
        features = self.model.features(batch)
        return torch.cat([self.model.logits(h, features).softmax(-1) for h in heads], dim=-1)

    def _mention_probs(self, items, own_head: list[str | None]) -> np.ndarray:
        # Only items that will use the mention head are encoded for it.
        need = [i for i, ((_, _, sp), head) in enumerate(zip(items, own_head)) if head is None or (self.combine == "mean" and sp)]
        out = np.zeros((len(items), 3), dtype=np.float32)
        if need:
            # The mention head was trained with the mention's own words as the first segment
            # (NewsMTSC has no target names), so pass the first mention rather than the name.
            pairs = [(_first_mention(*items[i]), items[i][1], items[i][2]) for i in need]
            rows = encode_pairs(self.tokenizer, pairs, self.max_length)
            out[need] = self._run(rows, lambda b: self.model.logits("mention", self.model.features(b)).softmax(-1))
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


# --------------------------------------------------------------------------- label mapping

_SYNONYMS = {
    "sentiment": {
        "negative": {"negative", "neg", "label_neg"},
        "neutral": {"neutral", "neu", "none", "mixed"},
        "positive": {"positive", "pos", "label_pos"},
    },
    "stance": {
        "against": {"against", "negative", "neg", "con", "oppose", "opposed"},
        "neutral": {"neutral", "neu", "none", "neither", "unrelated"},
        "favor": {"favor", "favour", "positive", "pos", "pro", "support", "in favor", "in favour"},
    },
}


def map_labels(id2label: dict, task: str) -> list[int]:
    """Map a classifier's id2label onto our label order: for each of our labels, the model's
    output index (or -1 when the model has no such class, e.g. a binary sentiment model's neutral).

    Generic names LABEL_0.. are read positionally: with 2 classes as (negative, positive) like
    SST-2, with 3 classes in our label order. Raises ValueError naming the labels it cannot map.
    """
    ours = SENTIMENT_LABELS if task == "sentiment" else STANCE_LABELS
    names = {int(i): str(n).strip().lower() for i, n in id2label.items()}
    generic = [re.fullmatch(r"label_(\d+)", n) for n in names.values()]
    index = [-1] * len(ours)
    if all(generic):
        if len(names) == 3:
            index = [0, 1, 2]
        elif len(names) == 2:
            index = [0, -1, 1]
        else:
            raise ValueError(f"cannot map {len(names)} generic labels {sorted(names.values())} to {ours}")
        return index
    unmapped = []
    for i, name in names.items():
        hits = [k for k, label in enumerate(ours) if name in _SYNONYMS[task][label]]
        if not hits:
            unmapped.append(id2label[i] if i in id2label else name)
            continue
        index[hits[0]] = i
    if unmapped or (index[0] < 0 and index[2] < 0):
        raise ValueError(
            f"cannot map the model's labels {[str(n) for n in id2label.values()]} to {ours} "
            f"(unmapped: {unmapped}); expected names like {sorted(_SYNONYMS[task][ours[0]])} / "
            f"{sorted(_SYNONYMS[task][ours[1]])} / {sorted(_SYNONYMS[task][ours[2]])}"
        )
    return index


def nli_entailment_index(id2label: dict) -> int | None:
    """The output index of an NLI model's "entailment" label, or None for any other classifier."""
    return next((int(i) for i, name in id2label.items() if str(name).strip().lower() == "entailment"), None)


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
    if spec == "builtin" and not _is_heads_dir(path):
        raise FileNotFoundError(f"builtin {task} model is missing in {path}; train one with `python -m pipeline.training.train --task {task}`")
    if _is_heads_dir(path):
        model, tokenizer, meta = load_heads_model(path, device)
        if meta.get("task") != task:
            raise ValueError(f"{path} holds a {meta.get('task')} model, not a {task} model")
        common.update(name=meta.get("name", path.name), version=meta.get("version", "0"), artifact_hash=_sha256(path / WEIGHTS_FILE)[:12])
        model = quantize_int8(model) if int8 else model
        if task == "sentiment":
            return cls(model, tokenizer, head="sentence", **common)
        return cls(model, tokenizer, target_heads=meta["target_heads"], combine=meta.get("combine", "target_head"), **common)

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(spec).to(device).eval()
    model = quantize_int8(model) if int8 else model
    tokenizer = AutoTokenizer.from_pretrained(spec)
    entailment = nli_entailment_index(model.config.id2label)
    label_index = None if entailment is not None else map_labels(model.config.id2label, task)
    weights = next((p for p in (path / "model.safetensors", path / "pytorch_model.bin") if p.is_file()), None)
    artifact_hash = _sha256(weights)[:12] if weights else getattr(model.config, "_commit_hash", None) or "unknown"
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
