"""Score a stance / sentiment model or a baseline on labelled files; print accuracy and macro-F1.

    python -m pipeline.training.evaluate --model builtin \\
        --newsmtsc ../shared/data/newsmtsc/devtest_mt.jsonl \\
        --ruw ../shared/data/ruw/train.csv --sst2 ../shared/data/sst2/train.tsv --split test
    python -m pipeline.training.evaluate --baseline vader ...      (or frozen-lr)

Files: NewsMTSC JSONL (stance per target; sentiment per sentence from its targets' polarities),
RUW CSV (stance per target, Russia and Ukraine), SST-2 TSV (binary sentiment: accuracy of
P(positive) > P(negative)). `--split test` keeps only the seeded held-out part of RUW and SST-2
files (the rows training never saw); NewsMTSC files are always used whole.
`--card DIR` also stores the results in DIR/metrics.json and re-renders DIR/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from pipeline.classifiers import SENTIMENT_LABELS, STANCE_LABELS, load_sentiment, load_stance
from pipeline.training import data as D
from pipeline.training.train import SPLITS


def parse_args(argv):
    p = argparse.ArgumentParser(prog="nlp-pipeline evaluate", description=__doc__.split("\n\n")[0])
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="builtin, a model directory or a Hugging Face model id")
    who.add_argument("--baseline", choices=("vader", "frozen-lr"))
    p.add_argument("--task", choices=("stance", "sentiment", "both"), default="both")
    p.add_argument("--newsmtsc", nargs="*", default=[], help="NewsMTSC JSONL files")
    p.add_argument("--ruw", nargs="*", default=[], help="RUW CSV files")
    p.add_argument("--sst2", nargs="*", default=[], help="SST-2 TSV files")
    p.add_argument("--split", choices=("all", "test"), default="all", help="RUW/SST-2 rows to score")
    p.add_argument("--seed", type=int, default=13, help="seed of the held-out split (as in training)")
    p.add_argument("--data-dir", default="../shared/data", help="training data for --baseline frozen-lr")
    p.add_argument("--device", default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--card", help="model directory whose metrics.json / README.md get these results")
    return p.parse_args(argv)


def scores(gold: list[str], pred: list[str], labels) -> dict:
    return {
        "n": len(gold),
        "accuracy": round(float(accuracy_score(gold, pred)), 4),
        "macro_f1": round(float(f1_score(gold, pred, labels=list(labels), average="macro", zero_division=0)), 4),
    }


def _keep(examples, source: str, split: str, seed: int):
    if split == "all":
        return examples
    test, val = SPLITS[source]
    return [e for e in examples if D.split_of(e.key, seed, test, val) == "test"]


def eval_stance(clf, args) -> dict:
    out = {}
    for path in args.newsmtsc:
        exs = D.read_newsmtsc_targets(path)
        probs = clf.predict([(e.target, e.text, list(e.spans)) for e in exs])
        out[f"newsmtsc:{Path(path).name}"] = scores([e.label for e in exs], [STANCE_LABELS[i] for i in probs.argmax(1)], STANCE_LABELS)
    for path in args.ruw:
        exs = _keep(D.read_ruw(path), "ruw", args.split, args.seed)
        probs = clf.predict([(e.target, e.text, list(e.spans)) for e in exs])
        pred = [STANCE_LABELS[i] for i in probs.argmax(1)]
        name = f"ruw:{Path(path).name}" + (":test" if args.split == "test" else "")
        for target in sorted({e.target for e in exs}):
            idx = [i for i, e in enumerate(exs) if e.target == target]
            out[f"{name}:{target}"] = scores([exs[i].label for i in idx], [pred[i] for i in idx], STANCE_LABELS)
    return out


def eval_sentiment(clf, args) -> dict:
    out = {}
    for path in args.newsmtsc:
        exs = D.read_newsmtsc_sentences(path)
        probs = clf.predict([e.text for e in exs])
        out[f"newsmtsc:{Path(path).name}"] = scores([e.label for e in exs], [SENTIMENT_LABELS[i] for i in probs.argmax(1)], SENTIMENT_LABELS)
    for path in args.sst2:
        exs = _keep(D.read_sst2(path), "sst2", args.split, args.seed)
        probs = clf.predict([e.text for e in exs])
        # Binary reading: which of positive / negative is more probable (neutral is ignored).
        pred = np.where(probs[:, 2] > probs[:, 0], "positive", "negative").tolist()
        name = f"sst2:{Path(path).name}" + (":test" if args.split == "test" else "")
        out[name] = scores([e.label for e in exs], pred, ("negative", "positive"))
    return out


def _tasks(args) -> list[str]:
    if args.task != "both":
        return [args.task]
    if args.model and Path(args.model, "labels.json").is_file():
        return [json.loads(Path(args.model, "labels.json").read_text())["task"]]
    return ["stance", "sentiment"]


def _load(args, task):
    if args.baseline:
        from pipeline.training.baselines import load_baseline

        return load_baseline(args.baseline, task, Path(args.data_dir), seed=args.seed, device=args.device)
    loader = load_stance if task == "stance" else load_sentiment
    return loader(args.model, device=args.device, batch_size=args.batch_size)


def main(argv=None) -> int:
    args = parse_args(argv)
    results = {"model": args.model or f"baseline:{args.baseline}", "split": args.split, "seed": args.seed, "tasks": {}}
    for task in _tasks(args):
        t0 = time.time()
        clf = _load(args, task)
        load_s = time.time() - t0
        res = eval_stance(clf, args) if task == "stance" else eval_sentiment(clf, args)
        results["tasks"][task] = {
            "name": clf.name,
            "artifact_hash": clf.artifact_hash,
            "load_seconds": round(load_s, 2),
            "eval_seconds": round(time.time() - t0 - load_s, 1),
            "scores": res,
        }
        print(f"== {task}: {results['model']} ({clf.name}, {clf.artifact_hash})")
        print(f"{'dataset':48s} {'n':>6s} {'acc':>7s} {'macro-F1':>9s}")
        for name, s in res.items():
            print(f"{name:48s} {s['n']:6d} {s['accuracy']:7.4f} {s['macro_f1']:9.4f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.card:
        from pipeline.training.card import update_card

        update_card(Path(args.card), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
