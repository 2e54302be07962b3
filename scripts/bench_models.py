"""Transformer stage speed: the shipped classifiers' batched, length-sorted inference (fp32 and
int8) against the naive way, a `transformers` pipeline() called one sentence at a time on the
same encoder.

    python scripts/bench_models.py [--sentences 700] [--threads 2] [--stance-model SPEC]
        [--device cpu|cuda] [--batch-size 32] [--json out.json]

--stance-model also times another stance model the same way, fp32 and int8: `accurate`, a model
folder (a delta over all-mpnet-base-v2 needs `make models-accurate`) or a hub id.

Sentences are the distinct ones of ../shared/data/newsmtsc/devtest_mt.jsonl (news sentences). The naive side
uses a BertForSequenceClassification built from the same all-MiniLM-L6-v2 weights (the head is
untrained, which costs nothing in time), so both sides do the same encoder work per sentence.

On --device cuda the precisions are fp32 (what the workers run) and bf16 autocast (speed only: its
accuracy is not measured), int8 being CPU-only; each figure is the best of three passes, the first
warming the kernels. A GPU wants larger batches than the CPU default (`batch_size` of the
sentiment and stance sections).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sentences(n: int) -> list[str]:
    path = ROOT.parent / "shared" / "data" / "newsmtsc" / "devtest_mt.jsonl"
    if not path.exists():
        sys.exit(f"error: {path} not found")
    # Distinct sentences only: the classifiers score a repeated sentence once, which would flatter them.
    lines = list(dict.fromkeys(json.loads(line)["sentence_normalized"] for line in path.open(encoding="utf-8")))
    if n > len(lines):
        sys.exit(f"error: {path} has {len(lines)} distinct sentences, fewer than --sentences {n}")
    return lines[:n]


def timed(fn, device: str = "cpu") -> float:
    import torch

    if device == "cpu":
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    def once() -> float:
        torch.cuda.synchronize()
        started = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - started

    return min(once() for _ in range(3))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=700)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stance-model", help="also time this stance model (a tier, folder or hub id)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--batch-size", type=int, default=32, help="sentences per forward pass")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, pipeline

    from pipeline.classifiers import load_sentiment, load_stance
    from pipeline_train.data import base_encoder_path

    torch.set_num_threads(args.threads)
    texts = sentences(args.sentences)
    encoder = base_encoder_path()
    naive_model = BertForSequenceClassification.from_pretrained(encoder, num_labels=3)
    naive = pipeline("text-classification", model=naive_model, tokenizer=AutoTokenizer.from_pretrained(encoder), device=0 if args.device == "cuda" else -1)
    items = [("NATO", t, []) for t in texts]  # the mention head: the pair input, the most work per item

    naive(texts[:8], truncation=True, max_length=128)  # warm-up
    results = {
        "sentences": len(texts),
        "threads": args.threads,
        "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
        "batch_size": args.batch_size,
        "naive_pipeline_one_at_a_time_s": timed(lambda: [naive(t, truncation=True, max_length=128) for t in texts], args.device),
    }
    loading = dict(device=args.device, batch_size=args.batch_size)
    for precision in ("none", "int8") if args.device == "cpu" else ("none", "bf16"):
        quantize = "int8" if precision == "int8" else "none"
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if precision == "bf16" else contextlib.nullcontext
        models = {"sentiment": (load_sentiment(quantize=quantize, **loading), texts), "stance": (load_stance(quantize=quantize, **loading), items)}
        if args.stance_model:
            models["stance_model"] = (load_stance(args.stance_model, quantize=quantize, **loading), items)
        for name, (model, inputs) in models.items():
            with autocast():
                model.predict(inputs[:8])  # warm-up
                results[f"{name}_batched_sorted_{precision}_s"] = timed(lambda: model.predict(inputs), args.device)
    for key in [k[:-2] for k in list(results) if k.endswith("_s")]:
        results[f"{key}_per_s"] = round(len(texts) / results[f"{key}_s"], 1)
        results[f"{key}_speedup"] = round(results["naive_pipeline_one_at_a_time_s"] / results[f"{key}_s"], 2)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
