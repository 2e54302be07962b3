"""The press-release mention set: which sentences refer to NATO, Russia or Ukraine, and how well the
product's mentions (configs/targets.yaml aliases + NER links) find them.

    python -m pipeline_train.mention_set draw  --news ../shared/data/news --folder datasets/press_mentions
    python -m pipeline_train.mention_set gold  --folder datasets/press_mentions
    python -m pipeline_train.mention_set score --news ../shared/data/news --folder datasets/press_mentions

draw: sentences as the product splits them (its cleaning and sentence splitter), seeded, in two
strata: "random" (two sentences from each of 100 releases per source, whatever they say) and "cue"
(sentences with a word that may stand for NATO without naming it: alliance, bloc, North Atlantic,
Euro-Atlantic; from 120 other releases that have one), which the random stratum would rarely hold. No item shows what the product finds.
gold: Cohen's kappa of the two blind annotators (GUIDE.md) per target, and gold.jsonl (their label
where they agree, the adjudication where they do not).
score: runs the product's text stages over the items' releases and compares, per target, the
sentences it marks as mentioning the target with the gold "named" sentences: precision, recall,
and every miss and false hit, so that the aliases can be fixed where the misses point.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from pipeline.config import load_config
from pipeline.documents import Document
from pipeline.processing import BatchProcessor
from pipeline_train.data import read_press_releases

TARGETS = ("NATO", "Russia", "Ukraine")
LABELS = ("named", "implicit", "no")
SOURCES = (("kremlin_en.csv", "kremlin.ru"), ("zelenskyy_en.csv", "president.gov.ua"))
RELEASES_PER_SOURCE, SENTENCES_PER_RELEASE, CUE_RELEASES, CUE_SENTENCES = 100, 2, 120, 100
NATO_CUES = re.compile(r"\b(alliance|bloc|north atlantic|euro-atlantic)\b", re.IGNORECASE)


def _releases(news: Path) -> list[dict]:
    return [{**row, "source": source} for name, source in SOURCES for row in read_press_releases(news / name)]


def _annotated(releases: list[dict]) -> list[Document]:
    """The releases after the product's text stages (cleaning, sentences, NER, mentions)."""
    processor = BatchProcessor(load_config())
    docs = [Document(doc_id=r["link"], source=r["source"], line=None, raw=r["body"]) for r in releases]
    for start in range(0, len(docs), 64):
        batch = [d for d in docs[start : start + 64] if d.failure is None]
        for stage in processor.text_stages:
            stage.process([d for d in batch if d.failure is None])
    return docs


def _item(release: dict, doc: Document, s: int, stratum: str) -> dict:
    sentence = doc.sentence_text(s)
    return {
        "id": hashlib.sha256(f"{release['link']}|{sentence}".encode()).hexdigest()[:12], "stratum": stratum,
        "source": release["source"], "url": release["link"], "date": release["date"][:10], "sentence": sentence,
        "before": doc.sentence_text(s - 1) if s > 0 else "",
        "after": doc.sentence_text(s + 1) if s + 1 < len(doc.sentences) else "",
    }


def draw(news: Path, seed: int) -> list[dict]:
    rng = random.Random(seed)
    releases = _releases(news)
    picked = []
    for _, source in SOURCES:
        own = [r for r in releases if r["source"] == source]
        picked += rng.sample(own, min(RELEASES_PER_SOURCE, len(own)))
    taken = {r["link"] for r in picked}
    cue_releases = [r for r in releases if NATO_CUES.search(r["body"]) and r["link"] not in taken]
    cue_releases = rng.sample(cue_releases, min(CUE_RELEASES, len(cue_releases)))
    docs = _annotated(picked + cue_releases)
    items, cue_pool = {}, []
    for release, doc in zip(picked + cue_releases, docs):
        if doc.failure is not None:
            continue
        usable = [s for s in range(len(doc.sentences)) if 20 <= len(doc.sentence_text(s)) <= 600]
        if release["link"] in taken:
            for s in rng.sample(usable, min(SENTENCES_PER_RELEASE, len(usable))):
                item = _item(release, doc, s, "random")
                items[item["id"]] = item
        else:
            cue_pool += [(release, doc, s) for s in usable if NATO_CUES.search(doc.sentence_text(s))]
    for release, doc, s in rng.sample(cue_pool, min(CUE_SENTENCES, len(cue_pool))):
        item = _item(release, doc, s, "cue")
        items.setdefault(item["id"], item)
    return sorted(items.values(), key=lambda i: i["id"])


def _read(path: Path) -> dict[str, dict]:
    return {row["id"]: row for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def gold(folder: Path) -> dict:
    items = _read(folder / "items.jsonl")
    first, second = _read(folder / "annotator_1.jsonl"), _read(folder / "annotator_2.jsonl")
    if set(first) != set(items) or set(second) != set(items):
        raise SystemExit("each annotator must label every item exactly once")
    adjudicated = _read(folder / "adjudication.jsonl") if (folder / "adjudication.jsonl").exists() else {}
    report, rows, missing = {"items": len(items), "kappa": {}, "agreement": {}, "gold": {}}, [], []
    for target in TARGETS:
        a, b = [first[i][target] for i in sorted(items)], [second[i][target] for i in sorted(items)]
        report["kappa"][target] = round(cohen_kappa_score(a, b), 3)
        report["agreement"][target] = round(sum(x == y for x, y in zip(a, b)) / len(a), 3)
    for i in sorted(items):
        row = {"id": i, "stratum": items[i]["stratum"]}
        for target in TARGETS:
            if first[i][target] == second[i][target]:
                row[target] = first[i][target]
            elif i in adjudicated:
                row[target] = adjudicated[i][target]
            else:
                missing.append(i)
        rows.append(row)
    if missing:
        raise SystemExit(f"{len(set(missing))} disputed items have no adjudication: {sorted(set(missing))[:10]} ...")
    _write(folder / "gold.jsonl", rows)
    report["disputed_items"] = sum(any(first[i][t] != second[i][t] for t in TARGETS) for i in items)
    report["gold"] = {t: dict(Counter(r[t] for r in rows)) for t in TARGETS}
    return report


def score(news: Path, folder: Path) -> dict:
    items, labels = _read(folder / "items.jsonl"), _read(folder / "gold.jsonl")
    wanted = {i["url"] for i in items.values()}
    releases = [r for r in _releases(news) if r["link"] in wanted]
    found: dict[tuple[str, str], set[str]] = {}
    for release, doc in zip(releases, _annotated(releases)):
        by_sentence = defaultdict(set)
        for m in doc.mentions:
            by_sentence[doc.sentence_text(m.sentence)].add(m.target)
        found.update({(release["link"], text): targets for text, targets in by_sentence.items()})
    report = {}
    for target in TARGETS:
        counts, misses, false_hits = Counter(), [], []
        for i, item in items.items():
            named = labels[i][target] == "named"
            hit = target in found.get((item["url"], item["sentence"]), set())
            counts[(named, hit)] += 1
            if named and not hit:
                misses.append(item["sentence"])
            if hit and not named:
                false_hits.append(f"[{labels[i][target]}] {item['sentence']}")
        tp, fp, fn = counts[(True, True)], counts[(False, True)], counts[(True, False)]
        report[target] = {
            "named": tp + fn, "found": tp + fp, "precision": round(tp / (tp + fp), 3) if tp + fp else None,
            "recall": round(tp / (tp + fn), 3) if tp + fn else None,
            "implicit_only": sum(labels[i][target] == "implicit" for i in items),
            "misses": misses, "false_hits": false_hits,
        }
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=("draw", "gold", "score"))
    ap.add_argument("--news", type=Path, default=Path("../shared/data/news"))
    ap.add_argument("--folder", type=Path, default=Path("datasets/press_mentions"))
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)
    if args.step == "draw":
        items = draw(args.news, args.seed)
        _write(args.folder / "items.jsonl", items)
        print(json.dumps({f"{k[0]} / {k[1]}": n for k, n in Counter((i["stratum"], i["source"]) for i in items).items()}, indent=2))
    elif args.step == "gold":
        print(json.dumps(gold(args.folder), indent=2))
    else:
        print(json.dumps(score(args.news, args.folder), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
