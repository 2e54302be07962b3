"""The mention set's plumbing: a seeded draw of the product's sentences, gold from two annotators
and an adjudication, and precision / recall of the product's own mentions against that gold."""

from __future__ import annotations

import json

import pytest

from pipeline_train import mention_set
from tests.unit.test_training import write_synthetic_data


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_draw_gold_and_score_on_a_small_corpus(tmp_path, monkeypatch):
    monkeypatch.setattr(mention_set, "SENTENCES_PER_RELEASE", 3)  # every sentence of the tiny releases
    news = write_synthetic_data(tmp_path / "data") / "news"
    folder = tmp_path / "set"
    items = mention_set.draw(news, seed=13)
    assert items == mention_set.draw(news, seed=13)  # seeded
    assert {i["stratum"] for i in items} == {"random"} and len(items) == 3
    folder.mkdir()
    _write(folder / "items.jsonl", items)

    def labels(item, europe_is_nato):
        text = item["sentence"]
        return {"id": item["id"], "NATO": "implicit" if europe_is_nato and "Europe" in text else "no",
                "Russia": "named" if "Putin" in text or "Russian" in text else "no",
                "Ukraine": "named" if "Ukraine" in text else "no", "note": ""}

    _write(folder / "annotator_1.jsonl", [labels(i, False) for i in items])
    _write(folder / "annotator_2.jsonl", [labels(i, True) for i in items])
    disputed = [i for i in items if "Europe" in i["sentence"]]
    assert disputed, "two of the three sentences name Europe"
    with pytest.raises(SystemExit, match="no adjudication"):
        mention_set.gold(folder)
    _write(folder / "adjudication.jsonl", [labels(i, False) for i in disputed])
    report = mention_set.gold(folder)
    assert report["items"] == len(items) and report["disputed_items"] == len(disputed) and report["gold"]["NATO"] == {"no": len(items)}

    scores = mention_set.score(news, folder)
    # "Vladimir Putin", "Russian", "Volodymyr Zelenskyy" and "Ukraine" are aliases: every named sentence is found, nothing else.
    assert scores["Russia"]["recall"] == 1.0 and scores["Ukraine"]["recall"] == 1.0
    assert scores["Russia"]["precision"] == 1.0 and scores["Ukraine"]["precision"] == 1.0 and scores["NATO"]["named"] == 0
