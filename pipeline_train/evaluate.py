"""Score a stance / sentiment model or a baseline on labelled files; print accuracy and macro-F1.

    python -m pipeline_train.evaluate --model builtin \\
        --newsmtsc ../shared/data/newsmtsc/devtest_mt.jsonl \\
        --ruw ../shared/data/ruw/train.csv --sst2 ../shared/data/sst2/train.tsv --split test
    python -m pipeline_train.evaluate --baseline vader ...      (or frozen-lr)

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

from pipeline.classifiers import load_sentiment, load_stance
from pipeline.config import QUANTIZE_MODES
from pipeline.heads import META_FILE
from pipeline.labels import SENTIMENT_LABELS, STANCE_LABELS
from pipeline.shipped import TIERS, model_folder
from pipeline_train import data as D


def parse_args(argv):
    p = argparse.ArgumentParser(prog="nlp-pipeline evaluate", description=__doc__.split("\n\n")[0])
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="builtin (the small tier), accurate, a model directory or a Hugging Face model id")
    who.add_argument("--baseline", choices=("vader", "frozen-lr"))
    p.add_argument("--task", choices=("stance", "sentiment", "both"), default="both")
    p.add_argument("--newsmtsc", nargs="*", default=[], help="NewsMTSC JSONL files")
    p.add_argument("--ruw", nargs="*", default=[], help="RUW CSV files")
    p.add_argument("--sst2", nargs="*", default=[], help="SST-2 TSV files")
    p.add_argument("--split", choices=("all", "dev", "test"), default="all", help="RUW/SST-2 rows (and press-release set) to score: dev is the validation part, never used to train")
    p.add_argument("--product", action="store_true", help="also score the product: the documents through every stage, on the rows it writes (stances and stance_sentences; documents.sentiment_label)")
    p.add_argument("--press", help="the press-release stance set (datasets/press_stance) for --product")
    p.add_argument("--news", default="../shared/data/news", help="the press releases the --press set's sentences come from")
    p.add_argument("--thresholds", type=lambda t: [float(x) for x in t.split(",")], help="with --product: score each stance.threshold in this comma-separated list (default: the configuration's)")
    p.add_argument("--config", help="job configuration for --product (YAML overlaying configs/default.yaml); --model overrides its model for the tasks evaluated")
    p.add_argument("--seed", type=int, default=13, help="seed of the held-out split (as in training)")
    p.add_argument("--data-dir", default="../shared/data", help="training data for --baseline frozen-lr")
    p.add_argument("--device", default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--quantize", choices=QUANTIZE_MODES, default="none", help="as the worker's quantize setting: int8 (dynamic int8 on the CPU), none (fp32), auto (int8 for builtin only)")
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
    wanted = "val" if split == "dev" else "test"
    return [e for e in examples if D.split_of_example(source, e.key, seed) == wanted]


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
        name = f"ruw:{Path(path).name}" + (f":{args.split}" if args.split != "all" else "")
        for target in sorted({e.target for e in exs}):
            idx = [i for i, e in enumerate(exs) if e.target == target]
            out[f"{name}:{target}"] = scores([exs[i].label for i in idx], [pred[i] for i in idx], STANCE_LABELS)
    return out


def sentiment_sets(args) -> dict[str, tuple[list[D.TextExample], bool]]:
    """{name: (examples, whether the gold is binary)} of the sentiment files given."""
    sets = {}
    for path in args.newsmtsc:
        sets[f"newsmtsc:{Path(path).name}"] = (D.read_newsmtsc_sentences(path), False)
    for path in args.sst2:
        # Full sentences only: the unit the pipeline scores.
        exs = [e for e in _keep(D.read_sst2(path), "sst2", args.split, args.seed) if D.is_full_sentence(e)]
        sets[f"sst2-sentences:{Path(path).name}" + (f":{args.split}" if args.split != "all" else "")] = (exs, True)
    return sets


def eval_sentiment(clf, args) -> dict:
    out = {}
    for name, (exs, binary) in sentiment_sets(args).items():
        probs = clf.predict([e.text for e in exs])
        gold = [e.label for e in exs]
        if binary:
            # Binary reading: which of positive / negative is more probable (neutral is ignored).
            out[name] = scores(gold, np.where(probs[:, 2] > probs[:, 0], "positive", "negative").tolist(), ("negative", "positive"))
        else:
            out[name] = scores(gold, [SENTIMENT_LABELS[i] for i in probs.argmax(1)], SENTIMENT_LABELS)
    return out


def _tasks(args) -> list[str]:
    if args.task != "both":
        return [args.task]
    if args.model and Path(args.model, META_FILE).is_file():
        return [json.loads(Path(args.model, META_FILE).read_text())["task"]]
    return ["stance", "sentiment"]


def _load(args, task):
    if args.baseline:
        from pipeline_train.baselines import load_baseline

        return load_baseline(args.baseline, task, Path(args.data_dir), seed=args.seed, device=args.device)
    loader = load_stance if task == "stance" else load_sentiment
    return loader(args.model, device=args.device, batch_size=args.batch_size, quantize=args.quantize)


def main(argv=None) -> int:
    args = parse_args(argv)
    results = {"model": args.model or f"baseline:{args.baseline}", "quantize": args.quantize, "split": args.split, "seed": args.seed, "tasks": {}}
    tasks = _tasks(args)
    for task in tasks:
        t0 = time.time()
        clf = _load(args, task)
        load_s = time.time() - t0
        res = eval_stance(clf, args) if task == "stance" else eval_sentiment(clf, args)
        results["tasks"][task] = {
            "name": clf.name,
            "artifact_hash": clf.artifact_hash,
            # As applied, per task: "auto" resolves to int8 for one model and fp32 for another.
            "quantize": getattr(clf, "quantize", "none"),
            "load_seconds": round(load_s, 2),
            "eval_seconds": round(time.time() - t0 - load_s, 1),
            "scores": res,
        }
        print(f"== {task}: {results['model']} ({clf.name}, {clf.artifact_hash})")
        print(f"{'dataset':48s} {'n':>6s} {'acc':>7s} {'macro-F1':>9s}")
        for name, s in res.items():
            print(f"{name:48s} {s['n']:6d} {s['accuracy']:7.4f} {s['macro_f1']:9.4f}")
    if args.product:
        results["product"] = product_scores(args, tasks)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.card:
        update_card(Path(args.card), results, reproducing_command(argv if argv is not None else sys.argv[1:]))
    return 0


def product_scores(args, tasks: list[str]) -> dict:
    """{task: figures} at product level (pipeline_train.product), printed after the model-level ones."""
    import dataclasses

    from pipeline.config import load_config
    from pipeline.processing import BatchProcessor
    from pipeline_train.product import evaluate_product, evaluate_product_sentiment

    config = load_config(args.config)
    if args.model:
        config = dataclasses.replace(config, **{t: dataclasses.replace(getattr(config, t), model=args.model) for t in tasks})
    # One processor for both tasks: spaCy and the models load once.
    processor = BatchProcessor(config)
    out = {}
    if "stance" in tasks:
        t0 = time.time()
        out["stance"] = evaluate_product(processor, args)
        print(f"== product level: stance.model {config.stance.model}, threshold {config.stance.threshold}, "
              f"holders {config.stance.holders}, whole_short_texts {config.stance.whole_short_texts} ({time.time() - t0:.0f} s)")
        for name, by_threshold in out["stance"].items():
            for threshold, figures in by_threshold.items():
                print(f"{name} threshold {threshold}: {json.dumps(figures)}")
    if "sentiment" in tasks:
        t0 = time.time()
        out["sentiment"] = evaluate_product_sentiment(processor, sentiment_sets(args))
        print(f"== product level: sentiment.model {config.sentiment.model}, quantize {config.sentiment.quantize} ({time.time() - t0:.0f} s)")
        for name, figures in out["sentiment"].items():
            print(f"{name}: {json.dumps(figures)}")
    return out


# --------------------------------------------------------------------------- model card

SOURCES = {
    "newsmtsc": "NewsMTSC (Hamborg & Donnay, EACL 2021), fhamborg/NewsMTSC, MIT licence: target-dependent "
    "sentiment in English political news sentences",
    "ruw": "RUW (multi-target/RUW, raw_train_Russia_Ukraine.csv): tweets on the 2022 war with stance toward "
    "Russia and Ukraine; no licence stated (research data accompanying a paper)",
    "sst2": "SST-2 (GLUE train split, via forest-snow/alps data/SST-2/train.tsv): binary movie-review "
    "sentiment; no licence stated in that copy (GLUE/SST terms apply)",
    "transfer": "(mention, sentence) pairs labelled by a larger teacher model (`python -m pipeline_train.distill`, "
    "see Training): other named entities of the NewsMTSC training sentences, and entities in sentences of Kremlin and "
    "Zelenskyy press releases (PeiYiZhuo/zelenskyy-putin; the source sites publish under CC BY 4.0)",
}

DESIGN = {
    "stance": (
        "One shared encoder, three 3-way heads (against / neutral / favor) on mean-pooled token states:\n"
        "- `mention`: input `target [SEP] sentence with [[mention]] marked`; features = mean of all tokens + mean of the "
        "marked mention's tokens. Trained on NewsMTSC target polarity (negative->against, neutral->neutral, positive->favor). "
        "Used for every target without its own head (e.g. NATO), and for any target in a sentence of a longer document.\n"
        "- `russia`, `ukraine`: the whole text; trained on RUW tweet stance (AGAINST/NONE/FAVOR) toward each target. "
        "Used for Russia and Ukraine in whole short texts (tweets, headlines; `combine` in labels.json says whether the "
        "mention head is averaged in when mention spans are given; chosen on the RUW val part).\n"
        "Batches alternate between the sources (RUW is passed `ruw_repeat` times per epoch). With a transfer set "
        "(`train --transfer`, see Training below), a third source trains the `mention` head on a larger teacher's "
        "probabilities (soft targets) for more (mention, sentence) pairs."
    ),
    "sentiment": (
        "One encoder, one 3-way head (negative / neutral / positive) on mean-pooled token states. "
        "Training mixes NewsMTSC sentences, labelled from their targets' polarities (negative if a target is negative and "
        "none positive, positive the other way round, neutral if all are neutral; sentences with both signs are dropped), "
        "with a seeded sample of SST-2 (binary: its examples never carry neutral, the news sentences teach neutral)."
    ),
}


LIMITS = {
    "stance": [
        "- Stance toward NATO (and any target without its own head) comes from the generic mention head, trained on "
        "how US political news sentences portray people and organisations; its only NATO measure is this project's "
        "press-release set (product level, below), where it reads official rhetoric poorly.",
        "- Stance toward Russia / Ukraine comes from heads trained on 2022-2023 tweets; the RUW scores are on tweets, "
        "not news, and reach only the mid-50s macro-F1: read them as aggregate tendencies.",
        "- NewsMTSC labels how a sentence portrays a target (sentiment toward it), which is the closest public proxy for stance.",
    ],
    "sentiment": [
        "- The neutral class comes from news sentences only; SST-2 contributes no neutral examples.",
        "- Sentence labels for news are derived from target polarities (a sentence about a neutral target in a "
        "negative context counts as neutral).",
    ],
}


def reproducing_command(argv: list[str]) -> str:
    """The arguments that decide the scores, for the card: where this run wrote (--json, --card) is left out."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--json", "--card"):
            skip = True
        elif not arg.startswith(("--json=", "--card=")):
            kept.append(arg)
    return " ".join(kept)


def update_card(model_dir: Path, results: dict, command: str) -> None:
    """Store one evaluate run in model_dir/metrics.json (ours or a baseline) and re-render README.md."""
    meta = json.loads((model_dir / META_FILE).read_text())
    task = meta["task"]
    metrics_path = model_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {"task": task, "results": {}}
    if results["model"].startswith("baseline:"):
        key = results["model"].split(":", 1)[1]
    else:
        applied = results["tasks"][task]["quantize"]
        key = "ours" if applied == "none" else f"ours-{applied}"
    metrics["results"][key] = {"command": command, "split": results["split"], **results["tasks"][task]}
    if task in results.get("product", {}):
        metrics["product"] = {"command": command, "split": results["split"], "figures": results["product"][task]}
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    (model_dir / "README.md").write_text(render_card(model_dir, meta, metrics))


def product_lines(product: dict | None, task: str) -> list[str]:
    """The card's first section: what the product writes, scored (evaluate --product)."""
    if not product:
        return []
    lines = ["## Product level", "", "Whole documents through every stage, scored on the rows analysts read "
             f"(`{product['command']}`; split {product['split']}; see docs/models.md, Product level):", ""]
    if task == "sentiment":
        lines += ["| set | documents | `sentiment_label` accuracy | macro-F1 | called neutral | sign of `sentiment_score`, accuracy |",
                  "|---|---|---|---|---|---|"]
        for name, f in product["figures"].items():
            cells = [f.get("macro_f1"), f.get("called_neutral"), f.get("binary_accuracy")]
            lines.append(f"| {name} | {f['n']} | {f['accuracy']:.3f} | " + " | ".join("" if c is None else f"{c:.3f}" for c in cells) + " |")
        return lines + [""]
    lines += ["| set | target | macro-F1 | false stance on neutral |", "|---|---|---|---|"]
    for name, by_threshold in product["figures"].items():
        for threshold, figures in by_threshold.items():
            for target in ("NATO", "Russia", "Ukraine"):
                if target in figures:
                    fs = figures[target].get("false_stance_on_neutral")
                    lines.append(f"| {name} (threshold {threshold}) | {target} | {figures[target]['macro_f1']:.3f} | "
                                 f"{'' if fs is None else f'{100 * fs:.1f} %'} |")
            if "macro_f1" in figures:
                lines.append(f"| {name} (threshold {threshold}) | the gold mention | {figures['macro_f1']:.3f} | |")
    return lines + [""]


def base_encoder_line(base: str, meta: dict) -> str:
    if "base" in meta:
        return (f"{meta['base']['name']} (Apache-2.0), installed and checked on each machine by `make models-accurate`; "
                f"this folder holds only what training changed ({meta['base']['trained']}), loaded over the base.")
    if base == D.DEFAULT_BASE:
        return f"{base} (Apache-2.0)."
    return f"`{base}` (its licence and training data are those of its own model card)."


def tier_name(model_dir: Path, task: str) -> str:
    return next((tier for tier in TIERS if model_folder(tier, task).resolve() == model_dir.resolve()), str(model_dir))


# What `quantize: auto` (the default) does with a model, by tier (pipeline.classifiers._load).
QUANTIZE_NOTE = {
    "builtin": "On a CPU the pipeline runs the small sentiment model with dynamic int8 weights by default "
               "(`sentiment.quantize: auto`) and the small stance model in fp32 (`stance.quantize: none`); column "
               "`ours-int8`, where present, is what int8 weights give.",
    "accurate": "It runs in fp32 unless `quantize: int8` is set, which makes its attention and feed-forward "
                "up-projections int8 and keeps the down-projections, which int8 breaks in this encoder, in fp32 "
                "(column `ours-int8`; docs/models.md, Accurate tier).",
}
OWN_MODEL_QUANTIZE = "It runs in fp32 unless `quantize: int8` is set."


def render_card(model_dir: Path, meta: dict, metrics: dict) -> str:
    task = meta["task"]
    cfg_path = model_dir / "training_config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    hashes_path = model_dir / "data_hashes.json"
    hashes = json.loads(hashes_path.read_text()) if hashes_path.is_file() else {}
    res = metrics["results"]
    columns = [c for c in ("ours", "ours-int8", "vader", "frozen-lr") if c in res]
    datasets = list(dict.fromkeys(d for c in columns for d in res[c]["scores"]))
    lines = [
        f"# {meta.get('name', task)} (version {meta.get('version', '?')})",
        "",
        f"Task: **{task}**, labels {', '.join(meta['labels'])}. Loaded by `pipeline.classifiers.load_{task}(\"{tier_name(model_dir, task)}\")`.",
        "",
        *product_lines(metrics.get("product"), task),
        "## Model",
        "",
        DESIGN[task],
        "",
        f"Weights: `model.safetensors`, fp16 (cast to fp32 at load). {QUANTIZE_NOTE.get(tier_name(model_dir, task), OWN_MODEL_QUANTIZE)} "
        f"Base encoder: {base_encoder_line(cfg.get('base_encoder', D.DEFAULT_BASE), meta)}",
        "",
        "## Training data",
        "",
    ]
    for name, digest in hashes.items():
        lines.append(f"- `{name}` (sha256 `{digest[:16]}...`): {SOURCES[name.split('/')[0]]}")
    if cfg:
        a = cfg["args"]
        lines += [
            "",
            "## Training",
            "",
            f"Command: `{cfg['command']}`  ",
            f"Seed {a['seed']}, {cfg['epochs']} epochs, best epoch {cfg['best_epoch']} (chosen on val parts only), "
            f"lr {a['lr']} (heads {a['head_lr']}), batch {a['batch_size']}, max length {a['max_length']}, "
            f"warmup {a['warmup']}, weight decay {a['weight_decay']}; {cfg['steps']} steps in {cfg['train_seconds']:.0f} s on "
            f"{cfg['device']} ({a['threads']} threads).  ",
            f"Examples per split: `{json.dumps(cfg['examples'])}`.  ",
            "Splits are seeded sha256 hashes of each example's key (`" + json.dumps(cfg["splits"]) + "`); "
            "the RUW and SST-2 `test` parts are never trained or tuned on; NewsMTSC devtest_mt is not used in training "
            "or model selection.  ",
            "Validation macro-F1 per epoch: "
            + "; ".join(f"{h['epoch']}: " + ", ".join(f"{k} {v:.3f}" for k, v in h["val_macro_f1"].items()) for h in cfg["history"])
            + ".",
        ]
        if cfg.get("transfer_set"):
            t = cfg["transfer_set"]
            lines.append(
                f"Transfer set: {sum(t['counts'].values())} pairs `{json.dumps(t['counts'])}` with the probabilities of teacher "
                f"`{t['teacher']}` (base `{t.get('teacher_base')}`; weights sha256 `{t['teacher_sha256'][:16]}...`) as soft "
                "targets for the mention head; "
                f"written by `{t['command']}`."
            )
        if "combine_val_macro_f1" in meta:
            lines.append(
                f"Russia/Ukraine whole texts with mention spans: `combine={meta['combine']}` "
                f"(RUW val macro-F1 {json.dumps({k: round(v, 3) for k, v in meta['combine_val_macro_f1'].items()})})."
            )
    lines += ["", "## Scores", ""]
    if columns:
        lines.append("| data | n | " + " | ".join(f"{c} acc / macro-F1" for c in columns) + " |")
        lines.append("|---|---|" + "---|" * len(columns))
        for d in datasets:
            n = next(res[c]["scores"][d]["n"] for c in columns if d in res[c]["scores"])
            cells = [
                f"{res[c]['scores'][d]['accuracy']:.3f} / {res[c]['scores'][d]['macro_f1']:.3f}" if d in res[c]["scores"] else "-"
                for c in columns
            ]
            lines.append(f"| {d} | {n} | " + " | ".join(cells) + " |")
        lines += ["", "Measured with `python -m pipeline_train.evaluate` (commands in metrics.json)."]
        if task == "sentiment":
            lines.append("SST-2 rows are binary: accuracy of P(positive) > P(negative); macro-F1 over the two classes.")
    lines += [
        "",
        "## Intended use and limits",
        "",
        "Intended use: batch scoring of English news sentences in this pipeline, for aggregate analysis "
        "(shares of negative / favourable sentences over many documents), not for judging single texts or people.",
        "",
        "- Trained on small public sets (" + ", ".join(n.split("/")[0] for n in hashes) + "); press releases, "
        "translations and other domains will likely score lower than the figures above.",
        *LIMITS[task],
        "- Labels carry the annotators' views; scores are from one seed (expect about +-1 point of noise).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
