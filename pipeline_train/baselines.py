"""Baselines with the same predict() interface as pipeline.classifiers, for `evaluate --baseline`.

vader:     VADER's lexicon scores of the whole text (stance: its sentiment read as the stance
           toward every target: negative -> against, positive -> favor).
frozen-lr: the base encoder, frozen, mean-pooled (pair inputs: plus the marked mention's tokens,
           the same features as the stance model's mention head), with logistic regression
           fitted on the same training splits the fine-tuned models use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.encoding import encode_pairs, encode_texts, resolve_device, run_batches
from pipeline.heads import HeadsModel
from pipeline.labels import SENTIMENT_LABELS, STANCE_LABELS
from pipeline_train.data import base_encoder_path, load_task_data


class _Vader:
    name, version, artifact_hash = "vader", "vaderSentiment", "-"
    device = "cpu"

    def __init__(self):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()

    def _probs(self, texts) -> np.ndarray:
        # The usual VADER thresholds: compound >= 0.05 positive, <= -0.05 negative. Rows are one-hot
        # except that neg/pos keep VADER's own proportions, so the binary P(pos) vs P(neg) reading
        # of SST-2 still works on texts VADER calls neutral.
        out = np.zeros((len(texts), 3), dtype=np.float32)
        for i, text in enumerate(texts):
            s = self.analyzer.polarity_scores(text)
            c = s["compound"]
            k = 0 if c <= -0.05 else 2 if c >= 0.05 else 1
            out[i, k] = 1.0
            out[i, 0] += 1e-3 * s["neg"]
            out[i, 2] += 1e-3 * s["pos"]
        return out / out.sum(1, keepdims=True)


class VaderSentiment(_Vader):
    labels = SENTIMENT_LABELS

    def predict(self, texts):
        return self._probs(texts)


class VaderStance(_Vader):
    labels = STANCE_LABELS

    def predict(self, items):
        return self._probs([text for _, text, _ in items])


class _FrozenEncoder:
    """Frozen base encoder giving HeadsModel features (mean-pooled; pairs add the mention's mean)."""

    def __init__(self, device=None, max_length=128, batch_size=64):
        from transformers import AutoModel, AutoTokenizer

        path = base_encoder_path()
        self.device = resolve_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
        self.model = HeadsModel(encoder, {}).to(self.device).eval()
        self.max_length, self.batch_size = max_length, batch_size

    def embed_rows(self, rows, kind: str) -> np.ndarray:
        width = self.model.feature_width(kind)
        return run_batches(rows, self.model.features, width, batch_size=self.batch_size, pad_id=self.tokenizer.pad_token_id or 0, device=self.device)

    def texts(self, texts):
        return self.embed_rows(encode_texts(self.tokenizer, texts, self.max_length), "text")

    def pairs(self, items):
        return self.embed_rows(encode_pairs(self.tokenizer, items, self.max_length), "pair")


def _fit(x, y, seed):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=1.0, random_state=seed).fit(x, y)


def _proba(clf, x, n_labels=3) -> np.ndarray:
    """predict_proba with a column for every label index (a class absent in training gets 0)."""
    p = clf.predict_proba(x)
    out = np.zeros((len(x), n_labels), dtype=np.float32)
    out[:, clf.classes_] = p
    return out


class FrozenLRStance:
    name, version, artifact_hash = "frozen-lr", "1", "-"
    labels = STANCE_LABELS

    def __init__(self, data_dir: Path, seed: int = 13, device=None):
        self.enc = _FrozenEncoder(device)
        self.device = self.enc.device
        _, splits = load_task_data("stance", Path(data_dir), seed, None, 0)
        news, ruw = splits["train"]["newsmtsc"], splits["train"]["ruw"]
        x = self.enc.pairs([(e.target, e.text, e.spans) for e in news])
        self.mention = _fit(x, [STANCE_LABELS.index(e.label) for e in news], seed)
        # One LR per RUW target on whole-tweet embeddings, like the model's per-target heads.
        texts = sorted({e.text for e in ruw})
        emb = dict(zip(texts, self.enc.texts(texts)))
        self.per_target = {}
        for target in sorted({e.target.lower() for e in ruw}):
            exs = [e for e in ruw if e.target.lower() == target]
            self.per_target[target] = _fit(np.stack([emb[e.text] for e in exs]), [STANCE_LABELS.index(e.label) for e in exs], seed)

    def predict(self, items):
        out = np.zeros((len(items), 3), dtype=np.float32)
        own = [i for i, (t, _, _) in enumerate(items) if t.lower() in self.per_target]
        rest = [i for i in range(len(items)) if i not in set(own)]
        if rest:
            out[rest] = _proba(self.mention, self.enc.pairs([items[i] for i in rest]))
        for target, clf in self.per_target.items():
            idx = [i for i in own if items[i][0].lower() == target]
            if idx:
                out[idx] = _proba(clf, self.enc.texts([items[i][1] for i in idx]))
        return out


class FrozenLRSentiment:
    name, version, artifact_hash = "frozen-lr", "1", "-"
    labels = SENTIMENT_LABELS

    def __init__(self, data_dir: Path, seed: int = 13, device=None, sst2_examples: int = 20000):
        self.enc = _FrozenEncoder(device)
        self.device = self.enc.device
        _, splits = load_task_data("sentiment", Path(data_dir), seed, None, sst2_examples)
        exs = splits["train"]["newsmtsc"] + splits["train"]["sst2"]
        self.clf = _fit(self.enc.texts([e.text for e in exs]), [SENTIMENT_LABELS.index(e.label) for e in exs], seed)

    def predict(self, texts):
        return _proba(self.clf, self.enc.texts(texts))


def load_baseline(name: str, task: str, data_dir: Path, seed: int = 13, device=None):
    if name == "vader":
        return VaderStance() if task == "stance" else VaderSentiment()
    if name == "frozen-lr":
        cls = FrozenLRStance if task == "stance" else FrozenLRSentiment
        return cls(data_dir, seed=seed, device=device)
    raise ValueError(f"unknown baseline {name!r}; use vader or frozen-lr")

