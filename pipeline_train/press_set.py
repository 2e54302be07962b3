"""The press-release stance set: agreement between the two annotators, and the gold labels.

    python -m pipeline_train.press_set --folder datasets/press_stance

Reads items.jsonl, annotator_1.jsonl and annotator_2.jsonl (each labelled blind to the other,
following GUIDE.md) and adjudication.jsonl (the decisions on every item where they differ);
writes gold.jsonl (id, target, stance, holder, split) and prints Cohen's kappa, raw agreement
and the label shares. The split (dev / test) is by press release: every labelled sentence of a
release falls in the same split.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from pipeline_train.product import press_split

TARGETS = ("NATO", "Russia", "Ukraine")


def _read(path: Path) -> dict[str, dict]:
    return {row["id"]: row for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def disputed(a: dict, b: dict) -> bool:
    return a["stance"] != b["stance"] or a["holder"].strip().lower() != b["holder"].strip().lower()


def agreement(items: dict, first: dict, second: dict) -> dict:
    out = {}
    for target in ("all", *TARGETS):
        ids = [i for i in sorted(items) if target == "all" or items[i]["target"] == target]
        a, b = [first[i]["stance"] for i in ids], [second[i]["stance"] for i in ids]
        out[target] = {"n": len(ids), "kappa": round(cohen_kappa_score(a, b), 3),
                       "agreement": round(sum(x == y for x, y in zip(a, b)) / len(ids), 3)}
    ids = sorted(items)
    a = [first[i]["holder"].strip().lower() != "text" for i in ids]
    b = [second[i]["holder"].strip().lower() != "text" for i in ids]
    out["holder_reported_or_own"] = {"n": len(ids), "kappa": round(cohen_kappa_score(a, b), 3),
                                     "agreement": round(sum(x == y for x, y in zip(a, b)) / len(ids), 3)}
    return out


def build_gold(items: dict, first: dict, second: dict, adjudicated: dict) -> list[dict]:
    gold = []
    for i in sorted(items):
        a, b = first[i], second[i]
        if disputed(a, b):
            if i not in adjudicated:
                raise SystemExit(f"item {i} is disputed and has no adjudication")
            label = adjudicated[i]
        else:
            label = a
        gold.append({"id": i, "target": items[i]["target"], "stance": label["stance"], "holder": label["holder"].strip(),
                     "split": press_split(items[i]["url"])})
    return gold


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, default=Path("datasets/press_stance"))
    args = ap.parse_args(argv)
    f = args.folder
    items, first, second = _read(f / "items.jsonl"), _read(f / "annotator_1.jsonl"), _read(f / "annotator_2.jsonl")
    if set(first) != set(items) or set(second) != set(items):
        raise SystemExit("each annotator must label every item exactly once")
    adjudicated = _read(f / "adjudication.jsonl")
    gold = build_gold(items, first, second, adjudicated)
    with (f / "gold.jsonl").open("w", encoding="utf-8") as fh:
        for row in gold:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    shares = {
        f"{t} {split}": dict(Counter(g["stance"] for g in gold if g["target"] == t and g["split"] == split))
        for t in TARGETS for split in ("dev", "test")
    }
    report = {
        "agreement": agreement(items, first, second),
        "disputed": sum(disputed(first[i], second[i]) for i in items),
        "label_counts": shares,
        "items_per_split": dict(Counter(press_split(items[i]["url"]) for i in items)),
        "releases_per_split": dict(Counter(press_split(u) for u in {items[i]["url"] for i in items})),
        "reported_share": round(sum(g["holder"].lower() != "text" for g in gold) / len(gold), 3),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
