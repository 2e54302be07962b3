"""Which of a stance model's Linear layers can be int8 (dynamic, per-channel weights) without losing
more than a point: macro-F1 on NewsMTSC devtest_mt for fp32 and for each rule, with sentences/s.

    python scripts/int8_rules.py --model DIR [--newsmtsc ../shared/data/newsmtsc/devtest_mt.jsonl] [--json out.json]
        [--rule "attention + up" ...]

The rules name Linears by kind: `attention` (query, key, value and the attention's output
projection), `up` (the feed-forward up-projection, `intermediate`), `down` (the feed-forward
down-projection), each optionally only in the top half of the layers. The heads stay fp32 in every
rule. What `quantize: int8` uses is pipeline.classifiers.int8_rule: attention + down for MiniLM,
attention + up for mpnet.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent

from pipeline.classifiers import linear_kind as kind  # noqa: E402 - after HF_HUB_OFFLINE is set


def layer(name: str) -> int:
    return int(re.search(r"\.layer\.(\d+)\.", name).group(1))


def rules(n_layers: int) -> dict:
    top = lambda name: layer(name) >= n_layers // 2
    return {
        "every Linear": lambda name: kind(name) is not None,
        "attention + down": lambda name: kind(name) in ("attention", "down"),
        "attention only": lambda name: kind(name) == "attention",
        "down only": lambda name: kind(name) == "down",
        "up only": lambda name: kind(name) == "up",
        "attention + up": lambda name: kind(name) in ("attention", "up"),
        "attention + down, top half of the layers": lambda name: kind(name) in ("attention", "down") and top(name),
        "every Linear, top half of the layers": lambda name: kind(name) is not None and top(name),
    }


def main(argv=None) -> int:
    import torch

    from pipeline.classifiers import load_stance, quantize_int8
    from pipeline.labels import STANCE_LABELS
    from pipeline_train.data import read_newsmtsc_targets
    from pipeline_train.evaluate import scores

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="stance model: builtin, accurate or a folder")
    ap.add_argument("--newsmtsc", default=str(ROOT.parent / "shared" / "data" / "newsmtsc" / "devtest_mt.jsonl"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--rule", action="append", default=None, metavar="NAME", help="measure only these rules (repeatable; default: all)")
    args = ap.parse_args(argv)
    unknown = set(args.rule or ()) - set(rules(0))  # the names do not depend on the layer count
    if unknown:
        ap.error(f"unknown rule {sorted(unknown)}; the rules are {sorted(rules(0))}")
    torch.set_num_threads(args.threads)

    examples = read_newsmtsc_targets(args.newsmtsc)
    items = [(e.target, e.text, list(e.spans)) for e in examples]
    gold = [e.label for e in examples]
    clf = load_stance(args.model, device="cpu")
    fp32 = clf.model
    named = rules(fp32.encoder.config.num_hidden_layers)
    variants = {"fp32": None, **{name: rule for name, rule in named.items() if not args.rule or name in args.rule}}
    results = {}
    for label, rule in variants.items():
        clf.model = fp32 if rule is None else quantize_int8(copy.deepcopy(fp32), rule)
        started = time.perf_counter()
        probs = clf.predict(items)
        seconds = time.perf_counter() - started
        result = scores(gold, [STANCE_LABELS[i] for i in probs.argmax(1)], STANCE_LABELS)
        results[label] = {**result, "items_per_s": round(len(items) / seconds, 1)}
        base = results["fp32"]["macro_f1"]
        print(f"{label:45s} macro-F1 {result['macro_f1']:.4f} ({100 * (result['macro_f1'] - base):+.2f}) "
              f"{results[label]['items_per_s']:.1f} items/s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "data": args.newsmtsc, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
