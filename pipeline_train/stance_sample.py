"""Draws the press-release stance set: sentences that name NATO, Russia or Ukraine, as the
product finds them (its own cleaning, sentence splitting and target mentions), spread across
both sources and every month.

    python -m pipeline_train.stance_sample --news ../shared/data/news --out datasets/press_stance/items.jsonl

Each item is one (sentence, target) pair with the sentence before and after it as context. The
draw is seeded and depends only on the press releases, so anyone can redraw the same items.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path

from pipeline.config import load_config
from pipeline.documents import Document
from pipeline.processing import BatchProcessor
from pipeline_train.data import read_press_releases

SOURCES = (("kremlin_en.csv", "kremlin.ru"), ("zelenskyy_en.csv", "president.gov.ua"))
QUOTA = {"NATO": 400, "Russia": 200, "Ukraine": 200}
# Items per press release and target: at most 2 while other releases still have some, so that no
# long speech dominates; the cap is raised only when a target's quota cannot be met otherwise.
PER_RELEASE = (2, 4, 8, 1_000)


def processed_releases(news: Path):
    """(source, CSV row, Document) of every press release that the product's text stages (cleaning,
    sentences, NER and target mentions, default configuration) process without failure."""
    processor = BatchProcessor(load_config())
    for name, source in SOURCES:
        rows = read_press_releases(news / name)
        docs = [Document(doc_id=r["link"], source=source, line=None, raw=r["body"]) for r in rows]
        for start in range(0, len(docs), 64):
            batch = docs[start : start + 64]
            for stage in processor.text_stages:
                stage.process([d for d in batch if d.failure is None])
        yield from ((source, row, doc) for row, doc in zip(rows, docs) if doc.failure is None)


def _candidates(news: Path) -> list[dict]:
    found = []
    for source, row, doc in processed_releases(news):
        by_target = defaultdict(set)
        for m in doc.mentions:
            by_target[m.target].add(m.sentence)
        for target, sentences in by_target.items():
            if target not in QUOTA:
                continue
            for s in sorted(sentences):
                text = doc.sentence_text(s)
                found.append({
                    "source": source, "url": row["link"], "headline": row["headline"], "date": row["date"][:10],
                    "target": target, "sentence": text,
                    "before": doc.sentence_text(s - 1) if s > 0 else "",
                    "after": doc.sentence_text(s + 1) if s + 1 < len(doc.sentences) else "",
                })
    return found


def draw(candidates: list[dict], seed: int) -> list[dict]:
    """Per target: round-robin over (source, month) buckets, each shuffled with the seed."""
    rng = random.Random(seed)
    items = []
    for target, quota in QUOTA.items():
        buckets = defaultdict(list)
        for c in candidates:
            if c["target"] == target and 20 <= len(c["sentence"]) <= 600:
                buckets[(c["source"], c["date"][:7])].append(c)
        for b in buckets.values():
            rng.shuffle(b)
        taken, per_release, keys = [], defaultdict(int), sorted(buckets)
        for cap in PER_RELEASE:
            skipped = defaultdict(list)
            while len(taken) < quota and any(buckets.values()):
                for key in keys:
                    while buckets[key]:
                        c = buckets[key].pop()
                        if per_release[c["url"]] < cap:
                            per_release[c["url"]] += 1
                            taken.append(c)
                            break
                        skipped[key].append(c)
                    if len(taken) == quota:
                        break
            for key, left in skipped.items():
                buckets[key] = left + buckets[key]
        items += taken
    for item in items:
        item["id"] = hashlib.sha256(f"{item['url']}|{item['target']}|{item['sentence']}".encode()).hexdigest()[:12]
    return sorted(items, key=lambda i: i["id"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--news", type=Path, default=Path("../shared/data/news"))
    ap.add_argument("--out", type=Path, default=Path("datasets/press_stance/items.jsonl"))
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)
    items = draw(_candidates(args.news), args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    counts = defaultdict(int)
    for i in items:
        counts[(i["target"], i["source"])] += 1
    print(json.dumps({f"{t} / {s}": n for (t, s), n in sorted(counts.items())}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
