"""Product-level evaluation: labelled documents through the real stages, scored on the rows the
product writes.

    nlp-pipeline evaluate --product --model builtin --ruw ../shared/data/ruw/train.csv \\
        --newsmtsc ../shared/data/newsmtsc/devtest_mt.jsonl --press datasets/press_stance --split test

Each set goes through cleaning, sentence splitting, NER and alias mentions, the stance stage and
document aggregation with the job configuration (`--config`), and is scored on what lands in the
`stances` and `stance_sentences` tables (`pipeline.io.parquet.batch_rows`), as an analyst reads them:

* RUW tweets, each a document: the `stances` row of Russia and of Ukraine against the gold
  (not_mentioned counts as neutral, the tweets' NONE);
* NewsMTSC sentences, each a document whose one mention is the gold target: its `stances` row;
* the press-release set (datasets/press_stance): each labelled sentence inside its whole press
  release, scored on its `stance_sentences` row (a sentence the product does not score for that
  target counts as neutral); the false-stance rate is the share of gold-neutral sentences called
  favor or against; holder detection is scored against the annotated holders.

Sentiment (`--task sentiment`): each labelled text is a document through cleaning, sentence
splitting and the sentiment stage, scored on its `documents` row's `sentiment_label`: NewsMTSC
sentences (three labels, macro-F1) and SST-2's held-out full sentences (binary gold; a document
the product calls neutral counts as wrong, as an analyst would read it; `binary_accuracy` reads
only the sign of `sentiment_score`, like the model-level figure).
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from sklearn.metrics import f1_score

from pipeline.config import Config, StanceConfig, Target
from pipeline.documents import Document, TargetMention
from pipeline.io.parquet import batch_rows
from pipeline.labels import SENTIMENT_LABELS, STANCE_LABELS
from pipeline.processing import BatchProcessor
from pipeline.stages.stance import StanceStage, aggregate_document
from pipeline_train import data as D

POLAR = ("against", "favor")
BATCH = 64


def macro_f1(gold: list[str], pred: list[str], labels=STANCE_LABELS) -> float:
    return round(float(f1_score(gold, pred, labels=list(labels), average="macro", zero_division=0)), 4)


def _as_label(stance: str | None) -> str:
    return stance if stance in STANCE_LABELS else "neutral"


def _annotate(processor: BatchProcessor, model_stage, docs: list[Document], with_text_stages: bool = True) -> list[Document]:
    """The documents after the text stages and one model stage, in batches as a worker runs them."""
    for start in range(0, len(docs), BATCH):
        batch = docs[start : start + BATCH]
        if with_text_stages:
            for stage in processor.text_stages:
                stage.process([d for d in batch if d.failure is None])
        model_stage.process([d for d in batch if d.failure is None])
    return docs


def _rows(docs: list[Document], stance: StanceStage, cfg: StanceConfig) -> dict[str, list[dict]]:
    """The rows the sink writes for `docs`, their stances aggregated with `cfg` (a threshold to try)."""
    for doc in docs:
        if doc.failure is None and not doc.unscored.get("stance"):
            aggregate_document(doc, stance.targets, cfg)
    return batch_rows(docs, [], 0, datetime.now(timezone.utc), "eval", {})


def ruw_set(path: Path, split: str, seed: int) -> list[tuple[str, dict[str, str]]]:
    """(tweet, {target: gold}) of the RUW rows in `split` ("test", "val" or "all")."""
    test, val = D.SPLITS["ruw"]
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = row["Tweet"]
            if split != "all" and D.split_of(text, seed, test, val) != split:
                continue
            gold = {row[f"Target {n}"].strip(): D.RUW_STANCE[row[f"Stance {n}"].strip().upper()] for n in ("1", "2")}
            out.append((text, gold))
    return out


def ruw_scorer(processor: BatchProcessor, stance: StanceStage, path: Path, split: str, seed: int):
    tweets = ruw_set(path, split, seed)
    docs = _annotate(processor, stance, [Document(doc_id=str(i), source="ruw", line=i, raw=t) for i, (t, _) in enumerate(tweets)])

    def score(cfg: StanceConfig) -> dict:
        rows = _rows(docs, stance, cfg)
        called = {(r["doc_id"], r["target"]): r["stance"] for r in rows["stances"]}
        out = {"n": len(tweets), "failed_documents": len(rows["failures"])}
        for target in ("Russia", "Ukraine"):
            gold, pred = [], []
            for i, (_, g) in enumerate(tweets):
                if target in g:
                    gold.append(g[target])
                    pred.append(_as_label(called.get((str(i), target))))
            against = [p for g, p in zip(gold, pred) if g == "against"]
            out[target] = {
                "macro_f1": macro_f1(gold, pred),
                "gold_against_called": {k: round(v / len(against), 3) for k, v in sorted(Counter(against).items())},
            }
        return out

    return score


def newsmtsc_scorer(processor: BatchProcessor, config: Config, path: Path):
    """Each (sentence, gold target) as a document whose only mention is the gold target's span."""
    stance = StanceStage(config.stance, (Target(name="mention", aliases=("mention",)),))
    examples = D.read_newsmtsc_targets(path)
    docs = []
    for i, e in enumerate(examples):
        doc = Document(doc_id=str(i), source="newsmtsc", line=i, raw=e.text)
        doc.text = e.text
        doc.sentences = [(0, len(e.text))]
        doc.mentions = [TargetMention("mention", e.text[a:b], a, b, 0, "alias") for a, b in e.spans]
        docs.append(doc)
    _annotate(processor, stance, docs, with_text_stages=False)

    def score(cfg: StanceConfig) -> dict:
        called = {r["doc_id"]: r["stance"] for r in _rows(docs, stance, cfg)["stances"]}
        pred = [_as_label(called.get(str(i))) for i in range(len(examples))]
        return {"n": len(examples), "macro_f1": macro_f1([e.label for e in examples], pred)}

    return score


def press_split(url: str) -> str:
    """dev or test, by press release (every sentence of a release in one split), seeded and stable."""
    return "test" if D.split_of(url, 13, 0.5, 0.0) == "test" else "dev"


def press_gold(folder: Path) -> list[dict]:
    items = {i["id"]: i for i in map(json.loads, (folder / "items.jsonl").read_text(encoding="utf-8").splitlines())}
    gold = [json.loads(line) for line in (folder / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    return [{**items[g["id"]], **g} for g in gold]


def press_scorer(processor: BatchProcessor, stance: StanceStage, folder: Path, news: Path, split: str):
    items = [i for i in press_gold(folder) if split == "all" or i["split"] == split]
    bodies = {row["link"]: row["body"] for name in ("kremlin_en.csv", "zelenskyy_en.csv") for row in D.read_press_releases(news / name)}
    urls = sorted({i["url"] for i in items})
    docs = _annotate(processor, stance, [Document(doc_id=u, source="press", line=None, raw=bodies[u]) for u in urls])

    def score(cfg: StanceConfig) -> dict:
        rows = _rows(docs, stance, cfg)
        units = {(r["doc_id"], r["target"], r["text"]): r for r in rows["stance_sentences"]}
        out: dict = {"n": len(items)}
        holder_pairs = []
        for target in ("NATO", "Russia", "Ukraine"):
            mine = [i for i in items if i["target"] == target]
            found = [units.get((i["url"], target, i["sentence"])) for i in mine]
            gold = [i["stance"] for i in mine]
            pred = [u["stance"] if u else "neutral" for u in found]
            neutral = [p for g, p in zip(gold, pred) if g == "neutral"]
            out[target] = {
                "n": len(mine),
                "macro_f1": macro_f1(gold, pred),
                "false_stance_on_neutral": round(sum(p in POLAR for p in neutral) / len(neutral), 3) if neutral else None,
                "unscored": sum(u is None for u in found),
            }
            holder_pairs += [(i["holder"], u["holder"]) for i, u in zip(mine, found) if u]
        out["holder"] = holder_scores(holder_pairs)
        return out

    return score


def holder_scores(pairs: list[tuple[str, str]]) -> dict:
    """Gold against detected holders: is the unit a reported view (holder not "text"), and which party."""
    gold = [g != "text" for g, _ in pairs]
    pred = [p != "text" for _, p in pairs]
    both = sum(g and p for g, p in zip(gold, pred))
    named = [(g, p) for g, p in pairs if g not in ("text", "quoted") and p not in ("text", "quoted")]
    return {
        "n": len(pairs),
        "gold_reported": sum(gold),
        "accuracy": round(sum(g == p for g, p in zip(gold, pred)) / len(pairs), 3) if pairs else None,
        "reported_precision": round(both / sum(pred), 3) if sum(pred) else None,
        "reported_recall": round(both / sum(gold), 3) if sum(gold) else None,
        # The same party when both name one: one name contains the other ("Lavrov" in "Sergei Lavrov").
        "party_agreement": round(sum(_same_party(g, p) for g, p in named) / len(named), 3) if named else None,
    }


def _same_party(a: str, b: str) -> bool:
    a, b = a.lower().removeprefix("the "), b.lower().removeprefix("the ")
    return a in b or b in a


def sentiment_scores(processor: BatchProcessor, examples: list[D.TextExample], binary: bool) -> dict:
    """Each example a document; scored on the `sentiment_label` of its `documents` row (a document
    that fails or goes unscored counts as wrong)."""
    docs = _annotate(processor, processor.model_stages[0], [Document(doc_id=str(i), source="eval", line=i, raw=e.text) for i, e in enumerate(examples)])
    rows = batch_rows(docs, [], 0, datetime.now(timezone.utc), "eval", {})
    written = {r["doc_id"]: r for r in rows["documents"]}
    found = [written.get(str(i)) for i in range(len(examples))]
    gold = [e.label for e in examples]
    pred = [(r["sentiment_label"] if r else None) or "unscored" for r in found]
    out = {
        "n": len(examples),
        "failed_documents": len(rows["failures"]),
        "unscored": sum(r is not None and not r["sentiment_label"] for r in found),  # written without a label; failures apart
        "accuracy": round(sum(g == p for g, p in zip(gold, pred)) / len(gold), 4) if gold else None,
    }
    if binary:
        sign = ["positive" if r and r["sentiment_score"] is not None and r["sentiment_score"] > 0 else "negative" for r in found]
        out["called_neutral"] = round(sum(p == "neutral" for p in pred) / len(pred), 4) if pred else None
        out["binary_accuracy"] = round(sum(g == p for g, p in zip(gold, sign)) / len(gold), 4) if gold else None
    else:
        out["macro_f1"] = macro_f1(gold, pred, SENTIMENT_LABELS)
    return out


def evaluate_product_sentiment(processor: BatchProcessor, sets: dict[str, tuple[list[D.TextExample], bool]]) -> dict:
    """{set: figures} for each named set of (examples, binary gold)."""
    return {name: sentiment_scores(processor, examples, binary) for name, (examples, binary) in sets.items()}


def evaluate_product(processor: BatchProcessor, args) -> dict:
    """{set: {threshold: figures}} for every set given and every threshold in args.thresholds."""
    config = processor.config
    stance = processor.model_stages[1]
    split = {"test": "test", "dev": "val"}.get(args.split, "all")
    scorers = {}
    for path in args.ruw:
        scorers[f"ruw:{Path(path).name}:{args.split}"] = ruw_scorer(processor, stance, Path(path), split, args.seed)
    for path in args.newsmtsc:
        scorers[f"newsmtsc:{Path(path).name}"] = newsmtsc_scorer(processor, config, Path(path))
    if args.press:
        press = {"test": "test", "dev": "dev"}.get(args.split, "all")
        scorers[f"press:{press}"] = press_scorer(processor, stance, Path(args.press), Path(args.news), press)
    thresholds = args.thresholds or [config.stance.threshold]
    return {name: {str(t): score(dataclasses.replace(config.stance, threshold=t)) for t in thresholds}
            for name, score in scorers.items()}
