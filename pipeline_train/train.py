"""Fine-tune the encoder for stance or sentiment and write a model directory.

    python -m pipeline_train.train --task stance --data-dir ../shared/data --out pipeline/models/stance --version N
    python -m pipeline_train.train --task sentiment --data-dir ../shared/data --out pipeline/models/sentiment --version N

Stance: one shared encoder, three heads.
  "mention" - NewsMTSC (target, sentence with [[mention]] marked) pairs; used for any target.
  "russia", "ukraine" - RUW whole tweets, one 3-way head per target (stance in tweets is often
    implicit, so these read the whole text rather than a marked mention).
Sentiment: one "sentence" head over NewsMTSC sentences (label from their targets' polarities,
  see data.newsmtsc_sentence_label) mixed with a seeded sample of SST-2 (binary; its examples
  never carry the neutral label, the news sentences teach neutral).

Held-out parts (seeded hash splits, see data.split_of_example): RUW 15% test + 10% val, SST-2
15% test + 5% val of its full sentences (each phrase with its sentences), NewsMTSC train 10% val. The best epoch is chosen on the val parts only; devtest_mt, the
RUW test part and the SST-2 test part are only scored at the end.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score

from pipeline.encoding import collate, encode_pairs, encode_texts, resolve_device, run_batches
from pipeline.hashing import file_sha256
from pipeline.heads import MENTION_HEAD, SENTENCE_HEAD, HeadsModel, base_reference, save_heads_model, write_meta
from pipeline.labels import SENTIMENT_LABELS, STANCE_LABELS
from pipeline_train.data import DEFAULT_BASE, SPLIT_METHOD, SPLITS, base_encoder_path, load_task_data
from pipeline_train.lora import add_lora


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="nlp-pipeline train", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=("stance", "sentiment"), required=True)
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--base", default=None, help="encoder to start from (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--epochs", type=int, default=None, help="default: 3 (stance), 2 (sentiment)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5, help="encoder learning rate")
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=float, default=0.06)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--ruw-repeat", type=int, default=2, help="passes over RUW per epoch (its heads need more steps)")
    p.add_argument("--transfer", default=None, help="stance: teacher-labelled pairs for the mention head (written by distill)")
    p.add_argument("--sst2-examples", type=int, default=20000, help="SST-2 training sample size")
    p.add_argument("--max-examples", type=int, default=None, help="cap each source (tiny CI runs)")
    p.add_argument("--train-top-layers", type=int, default=None, metavar="K",
                   help="train only the encoder's top K layers (and the heads) and write them as a delta over --base")
    p.add_argument("--lora-rank", type=int, default=None, metavar="R",
                   help="train rank-R adapters on every encoder layer's Linears (and the heads) and write them as a delta over --base")
    p.add_argument("--lora-alpha", type=float, default=None, help="adapter scale numerator (default: 2 x rank)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--name", default=None, help="model name in output rows (default: <base folder>-<task>, minilm-<task>)")
    # Required: a default would let a new model ship under an old version and break traceability of output rows.
    p.add_argument("--version", required=True, help="model version written to labels.json and every output row (the shipped stance model is 3)")
    args = p.parse_args(argv)
    if args.transfer and args.task != "stance":
        p.error("--transfer trains the stance mention head; it does not apply to --task sentiment")
    if args.train_top_layers is not None and args.lora_rank is not None:
        p.error("--train-top-layers and --lora-rank are two kinds of delta: choose one")
    if (args.train_top_layers is not None or args.lora_rank is not None) and not args.base:
        p.error("a delta (--train-top-layers, --lora-rank) is written over --base: name the base folder")
    return args


# --------------------------------------------------------------------------- data


def stance_streams(tokenizer, examples: dict, max_length: int) -> list[list[dict]]:
    """Encoded training streams: NewsMTSC pair rows labelled for "mention", RUW tweet rows
    with one label per target head, and teacher-labelled pairs whose "mention" label is a
    probability vector (soft targets). Each batch is drawn from one stream."""
    news = examples.get("newsmtsc", [])
    rows = encode_pairs(tokenizer, [(e.target, e.text, e.spans) for e in news], max_length)
    for r, e in zip(rows, news):
        r["labels"] = {MENTION_HEAD: STANCE_LABELS.index(e.label)}
    streams = [rows]
    tweets: dict[str, dict] = {}
    for e in examples.get("ruw", []):
        tweets.setdefault(e.text, {})[e.target.lower()] = STANCE_LABELS.index(e.label)
    texts = list(tweets)
    rows = encode_texts(tokenizer, texts, max_length)
    for r, t in zip(rows, texts):
        r["labels"] = tweets[t]
    streams.append(rows)
    transfer = examples.get("transfer", [])
    rows = encode_pairs(tokenizer, [(e.target, e.text, e.spans) for e in transfer], max_length)
    for r, e in zip(rows, transfer):
        r["labels"] = {MENTION_HEAD: list(e.probs)}
    streams.append(rows)
    return streams


def sentiment_streams(tokenizer, examples: dict, max_length: int):
    exs = examples.get("newsmtsc", []) + examples.get("sst2", [])
    rows = encode_texts(tokenizer, [e.text for e in exs], max_length)
    for r, e in zip(rows, exs):
        r["labels"] = {SENTENCE_HEAD: SENTIMENT_LABELS.index(e.label)}
    return [rows]


def epoch_batches(streams, batch_size: int, rng: np.random.Generator, repeats: list[int]):
    """Shuffled batches for one epoch; within windows of 50 batches examples are sorted by
    length so that batches carry little padding (the main CPU cost), then batches are shuffled."""
    batches = []
    for rows, repeat in zip(streams, repeats):
        if not rows or not repeat:
            continue
        order = np.concatenate([rng.permutation(len(rows)) for _ in range(repeat)])
        window = batch_size * 50
        for w in range(0, len(order), window):
            chunk = sorted(order[w : w + window].tolist(), key=lambda i: len(rows[i]["input_ids"]))
            batches += [[rows[i] for i in chunk[b : b + batch_size]] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _inputs(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "labels"} for r in rows]


def batch_loss(model, rows, device, pad_id):
    batch = collate(_inputs(rows), pad_id, device)
    feats = model.features(batch)
    loss = 0.0
    for head in model.heads:
        has = [i for i, r in enumerate(rows) if head in r["labels"]]
        if not has:
            continue
        # Class indices, or (transfer stream) teacher probabilities: cross_entropy takes either.
        targets = torch.tensor([rows[i]["labels"][head] for i in has], device=device)
        logits = model.logits(head, feats[has])
        loss = loss + torch.nn.functional.cross_entropy(logits, targets)
    return loss


# --------------------------------------------------------------------------- validation


def validate(model, streams, device, pad_id) -> dict[str, float]:
    """Macro-F1 per head on the val streams (and binary accuracy for SST-2-like rows)."""
    model.eval()
    scores = {}
    for rows in streams:
        for head in model.heads:
            sub = [r for r in rows if head in r["labels"]]
            if not sub:
                continue
            probs = run_batches(_inputs(sub), lambda b: model.probs(b, [head]), 3, batch_size=64, pad_id=pad_id, device=device)
            gold = [r["labels"][head] for r in sub]
            scores[head] = float(f1_score(gold, probs.argmax(1), average="macro", labels=[0, 1, 2], zero_division=0))
    model.train()
    return scores


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    args = parse_args(argv)
    set_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = resolve_device(None)
    data_dir = Path(args.data_dir)
    out_dir = Path(args.out)
    epochs = args.epochs or (3 if args.task == "stance" else 2)
    started = time.time()

    from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

    base = args.base or base_encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(base)
    encoder = AutoModel.from_pretrained(base, add_pooling_layer=False)
    if args.task == "stance":
        heads = {MENTION_HEAD: "pair", "russia": "text", "ukraine": "text"}
        make_streams, repeats = stance_streams, [1, args.ruw_repeat, 1]
    else:
        heads = {SENTENCE_HEAD: "text"}
        make_streams, repeats = sentiment_streams, [1]
    model = HeadsModel(encoder, heads).to(device)
    delta = None
    if args.train_top_layers is not None:
        freeze_below(model, encoder.config.num_hidden_layers - args.train_top_layers)
        delta = {"trained": f"top {args.train_top_layers} layers and the heads"}
    elif args.lora_rank is not None:
        lora = {"rank": args.lora_rank, "alpha": args.lora_alpha or 2.0 * args.lora_rank}
        adapted = add_lora(model, lora["rank"], lora["alpha"])
        delta = {"trained": f"rank-{lora['rank']} adapters on {adapted} Linears and the heads", "lora": lora}
    pad_id = tokenizer.pad_token_id or 0

    files, splits, transfer = load_task_data(args.task, data_dir, args.seed, args.max_examples, args.sst2_examples, args.transfer)
    counts = {s: {src: len(xs) for src, xs in v.items()} for s, v in splits.items()}
    print(f"[train] task={args.task} device={device} examples={counts}", flush=True)
    train_streams = make_streams(tokenizer, splits["train"], args.max_length)
    # A source left out of training (repeat 0, e.g. --ruw-repeat 0) is left out of the epoch choice too.
    val_streams = [s for s, r in zip(make_streams(tokenizer, splits["val"], args.max_length), repeats) if r]

    rng = np.random.default_rng(args.seed)
    steps_per_epoch = len(epoch_batches(train_streams, args.batch_size, np.random.default_rng(0), repeats))
    total = steps_per_epoch * epochs
    head_params = [p for n, p in model.named_parameters() if n.startswith("heads.")]
    no_decay = lambda n: n.endswith("bias") or "LayerNorm" in n
    enc = [(n, p) for n, p in model.named_parameters() if n.startswith("encoder.") and p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in enc if not no_decay(n)], "lr": args.lr, "weight_decay": args.weight_decay},
            {"params": [p for n, p in enc if no_decay(n)], "lr": args.lr, "weight_decay": 0.0},
            {"params": head_params, "lr": args.head_lr, "weight_decay": args.weight_decay},
        ]
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(args.warmup * total), total)

    history, best, best_state = [], -1.0, None
    model.train()
    step = 0
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        for rows in epoch_batches(train_streams, args.batch_size, rng, repeats):
            loss = batch_loss(model, rows, device, pad_id)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step % 50 == 0:
                print(f"[train] epoch {epoch} step {step}/{total} loss {loss.item():.4f} {time.time() - started:.0f}s", flush=True)
        scores = validate(model, val_streams, device, pad_id)
        mean = float(np.mean(list(scores.values()))) if scores else 0.0
        history.append({"epoch": epoch, "val_macro_f1": scores, "val_mean": mean, "seconds": round(time.time() - t0, 1)})
        print(f"[train] epoch {epoch} val {scores} mean {mean:.4f} ({time.time() - t0:.0f}s)", flush=True)
        if mean > best:
            best, best_state = mean, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    best_epoch = max(history, key=lambda h: h["val_mean"])["epoch"]
    train_seconds = round(time.time() - started, 1)

    meta = {
        "task": args.task,
        "name": args.name or f"{Path(args.base).name if args.base else 'minilm'}-{args.task}",
        "version": args.version,
        "labels": list(STANCE_LABELS if args.task == "stance" else SENTIMENT_LABELS),
        "heads": heads,
    }
    if args.task == "stance":
        meta["target_heads"] = {"russia": "russia", "ukraine": "ukraine"}
        meta["combine"] = "target_head"
    trained = None
    if delta:
        meta["base"] = {**base_reference(base), **delta}
        trained = {n for n, p in model.named_parameters() if p.requires_grad}
    save_heads_model(model, tokenizer, out_dir, meta, trained)
    if args.task == "stance":
        # Choose, on the RUW val part, whether a Russia/Ukraine item with mention spans also uses
        # the mention head (averaged) or only the target's own whole-text head.
        meta["combine"], meta["combine_val_macro_f1"] = choose_combine(out_dir, splits["val"].get("ruw", []))
        write_meta(out_dir, meta)

    config = {
        "command": "python -m pipeline_train.train " + " ".join(argv if argv is not None else sys.argv[1:]),
        "args": vars(args),
        "epochs": epochs,
        "base_encoder": args.base or DEFAULT_BASE,
        "transfer_set": transfer,
        "splits": {k: {"test": v[0], "val": v[1], "method": SPLIT_METHOD[k]} for k, v in SPLITS.items()},
        "examples": counts,
        "steps": total,
        "history": history,
        "best_epoch": best_epoch,
        "train_seconds": train_seconds,
        "device": device,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (out_dir / "training_config.json").write_text(json.dumps(config, indent=2) + "\n")
    hashes = {name: file_sha256(path) for name, path in files.items()}
    (out_dir / "data_hashes.json").write_text(json.dumps(hashes, indent=2) + "\n")
    print(f"[train] wrote {out_dir} best epoch {best_epoch} in {train_seconds}s", flush=True)
    return 0


def freeze_below(model: HeadsModel, first_trained: int) -> None:
    """Freeze the embeddings and every encoder layer below `first_trained` (and anything else of the
    encoder that is shared by all layers, such as MPNet's relative attention bias)."""
    trained = tuple(f"encoder.encoder.layer.{i}." for i in range(first_trained, model.encoder.config.num_hidden_layers))
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith("heads.") or name.startswith(trained)


def choose_combine(model_dir: Path, val_examples) -> tuple[str, dict]:
    from pipeline.classifiers import load_stance

    clf = load_stance(str(model_dir))
    items = [(e.target, e.text, list(e.spans)) for e in val_examples]
    gold = [STANCE_LABELS.index(e.label) for e in val_examples]
    scores = {}
    for mode in ("target_head", "mean"):
        clf.combine = mode
        pred = clf.predict(items).argmax(1) if items else []
        scores[mode] = float(f1_score(gold, pred, average="macro", labels=[0, 1, 2], zero_division=0)) if items else 0.0
    best = max(scores, key=scores.get)
    print(f"[train] combine on RUW val: {scores} -> {best}", flush=True)
    return best, scores


if __name__ == "__main__":
    sys.exit(main())
