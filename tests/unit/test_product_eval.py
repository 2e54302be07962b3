"""`evaluate --product`: labelled documents through the real stages with the shipped small models,
scored on the rows the product writes. On one-unit documents at threshold 0 the product must agree
with the model-level figures (one unit decides the document alone); on the press set every labelled
sentence must be found among the `stance_sentences` rows of its release."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from pipeline_train import evaluate
from tests.unit.test_training import write_synthetic_data

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FILLER = "Delegations met in Geneva on Monday to discuss the grain corridor and shipping insurance rates."
PRESS = [
    # (target, sentence, gold stance, holder)
    ("Russia", "The Kremlin's brutal war has killed thousands of innocent civilians.", "against", "text"),
    ("Ukraine", "Ukraine's brave soldiers heroically defended their homeland.", "favor", "text"),
    ("NATO", "NATO ministers will meet in Brussels on Thursday.", "neutral", "text"),
    ("NATO", "Russia views NATO's growing influence as a major security threat.", "against", "Russia"),
]


def write_press_set(root: Path) -> tuple[Path, Path]:
    """A two-release press set: each release long enough to be read sentence by sentence."""
    news, folder = root / "news", root / "press_stance"
    news.mkdir(parents=True)
    folder.mkdir()
    items, gold = [], []
    for n, name in enumerate(("kremlin_en.csv", "zelenskyy_en.csv")):
        url = f"https://example.org/release-{n}"
        mine = PRESS[2 * n : 2 * n + 2]
        body = " ".join([FILLER] * 12) + "\n\n" + " ".join(s for _, s, _, _ in mine)
        with open(news / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["link", "headline", "date", "body"])
            w.writerow([url, "Release", "2022-03-01", body])
        for k, (target, sentence, stance, holder) in enumerate(mine):
            items.append({"id": f"{n}{k}", "url": url, "target": target, "sentence": sentence})
            gold.append({"id": f"{n}{k}", "target": target, "stance": stance, "holder": holder, "split": "dev"})
    (folder / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    (folder / "gold.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gold))
    return news, folder


def write_review_sentences(path: Path) -> Path:
    """SST-2 lines as long as real review sentences (the cleaning stage rejects three-word documents)."""
    good = "The film was a delight from start to finish, warm and funny and beautifully acted, scene {}."
    bad = "The movie was a boring, dreadful waste of time, with a plot that made no sense at all, scene {}."
    path.write_text("sentence\tlabel\n" + "".join(f"{(good if i % 2 else bad).format(i)}\t{i % 2}\n" for i in range(20)))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("product")
    write_synthetic_data(root / "data")
    write_review_sentences(root / "data/sst2/train.tsv")
    return root, *write_press_set(root)


def run(tmp_path, *argv) -> dict:
    out = tmp_path / "eval.json"
    assert evaluate.main([*argv, "--model", "builtin", "--product", "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_stance_product_level_agrees_with_the_model_on_one_unit_documents_and_finds_the_press_sentences(data, tmp_path):
    root, news, press = data
    res = run(tmp_path, "--task", "stance", "--ruw", str(root / "data/ruw/train.csv"), "--newsmtsc", str(root / "data/newsmtsc/devtest_mt.jsonl"),
              "--press", str(press), "--news", str(news), "--split", "all", "--thresholds", "0,1.01")
    model, product = res["tasks"]["stance"]["scores"], res["product"]["stance"]
    ruw = product["ruw:train.csv:all"]["0.0"]
    assert ruw["n"] == 40 and ruw["failed_documents"] == 0
    for target in ("Russia", "Ukraine"):  # a tweet is one unit, read whole by the target's head
        assert ruw[target]["macro_f1"] == pytest.approx(model[f"ruw:train.csv:{target}"]["macro_f1"], abs=1e-4)
    assert product["newsmtsc:devtest_mt.jsonl"]["0.0"]["macro_f1"] == pytest.approx(model["newsmtsc:devtest_mt.jsonl"]["macro_f1"], abs=1e-4)

    at_zero, above_one = product["press:all"]["0.0"], product["press:all"]["1.01"]
    assert at_zero["n"] == 4 and all(at_zero[t]["unscored"] == 0 for t in ("NATO", "Russia", "Ukraine"))
    assert at_zero["holder"]["n"] == 4 and at_zero["holder"]["reported_precision"] in (None, 1.0)
    # No label can reach a threshold above 1: every sentence is neutral, so none is a false stance.
    assert above_one["NATO"]["false_stance_on_neutral"] == 0.0
    assert at_zero["Russia"]["macro_f1"] == pytest.approx(1 / 3, abs=1e-3)  # the one gold class, found


def test_sentiment_product_level_reads_the_documents_rows(data, tmp_path):
    root, _, _ = data
    # int8 at both levels: the product runs the small sentiment model as `quantize: auto` does.
    res = run(tmp_path, "--task", "sentiment", "--quantize", "int8", "--newsmtsc", str(root / "data/newsmtsc/devtest_mt.jsonl"),
              "--sst2", str(root / "data/sst2/train.tsv"), "--split", "all")
    model, product = res["tasks"]["sentiment"]["scores"], res["product"]["sentiment"]
    news = product["newsmtsc:devtest_mt.jsonl"]
    assert news["n"] == model["newsmtsc:devtest_mt.jsonl"]["n"] == 12 and news["unscored"] == 0
    # A one-sentence document's label is its sentence's: the product agrees with the model.
    assert news["accuracy"] == pytest.approx(model["newsmtsc:devtest_mt.jsonl"]["accuracy"], abs=1e-4)
    assert news["macro_f1"] == pytest.approx(model["newsmtsc:devtest_mt.jsonl"]["macro_f1"], abs=1e-4)
    sst2 = product["sst2-sentences:train.tsv"]
    assert sst2["n"] == 20 and sst2["failed_documents"] == 0 and sst2["binary_accuracy"] == pytest.approx(model["sst2-sentences:train.tsv"]["accuracy"], abs=1e-4)
    # A document labelled positive or negative has that sign, so the written label is right at most as
    # often as the sign, and the difference is documents the product called neutral.
    assert sst2["accuracy"] <= sst2["binary_accuracy"] <= sst2["accuracy"] + sst2["called_neutral"] + 1e-9


def test_sentiment_product_level_counts_failures_apart_from_unscored():
    from pipeline.config import load_config
    from pipeline.processing import BatchProcessor
    from pipeline_train.data import TextExample
    from pipeline_train.product import sentiment_scores

    processor = BatchProcessor(load_config(None))
    examples = [
        TextExample("The rescue crews worked through the night and saved every family in the building.", "positive", "sst2", "a"),
        TextExample("Too short.", "positive", "sst2", "b"),  # under cleaning.min_chars: the document fails
    ]
    figures = sentiment_scores(processor, examples, binary=True)
    assert figures["failed_documents"] == 1 and figures["unscored"] == 0
    assert figures["accuracy"] <= 0.5  # the failed document counts as wrong
