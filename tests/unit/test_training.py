"""Training / evaluation plumbing: data readers, seeded splits, a tiny end-to-end training run."""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.classifiers import load_sentiment, load_stance
from pipeline.hashing import file_sha256
from pipeline_train import data as D
from pipeline_train import evaluate, train

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"

GOOD = ["praised", "welcomed", "applauded", "thanked"]
BAD = ["condemned", "attacked", "blamed", "denounced"]


def write_synthetic_data(root: Path) -> Path:
    """Small files in the NewsMTSC / RUW / SST-2 formats (a few dozen rows each)."""
    (root / "newsmtsc").mkdir(parents=True)
    (root / "ruw").mkdir()
    (root / "sst2").mkdir()
    (root / "news").mkdir()
    lines = []
    for i in range(36):
        verb, pol = [(GOOD[i % 4], 6.0), (BAD[i % 4], 2.0), ("met", 4.0)][i % 3]
        text = f"Senator {i} {verb} the mayor of Paris on Tuesday."
        start = text.index("the mayor")
        targets = [{"from": start, "to": start + 9, "mention": "the mayor", "polarity": pol}]
        if i % 6 == 0:  # a second, neutral target: the sentence keeps the first one's sentiment
            targets.append({"from": 0, "to": 7, "mention": "Senator", "polarity": 4.0})
        lines.append(json.dumps({"primary_gid": f"g{i}", "sentence_normalized": text, "targets": targets}))
    (root / "newsmtsc" / "train.jsonl").write_text("\n".join(lines) + "\n")
    (root / "newsmtsc" / "devtest_mt.jsonl").write_text("\n".join(lines[:12]) + "\n")
    with open(root / "ruw" / "train.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Tweet", "Target 1", "Stance 1", "Target 2", "Stance 2", "Test/Train/Dev"])
        for i in range(40):
            r, u = [("AGAINST", "FAVOR"), ("FAVOR", "AGAINST"), ("NONE", "NONE")][i % 3]
            w.writerow([f"tweet {i}: #StandWithUkraine" if r == "AGAINST" else f"tweet {i}: news from Moscow", "Russia", r, "Ukraine", u, "Train"])
    rows = ["sentence\tlabel"] + [f"{'a wonderful film' if i % 2 else 'a dull mess'} {i} \t{i % 2}" for i in range(60)]
    (root / "sst2" / "train.tsv").write_text("\n".join(rows) + "\n")
    body = (
        "President Vladimir Putin held talks with Emmanuel Macron in Moscow on the situation in Europe. "
        "Volodymyr Zelenskyy thanked the United Nations for its support of Ukraine. "
        "The European Union announced new sanctions against Russian banks."
    )
    for name in ("kremlin_en.csv", "zelenskyy_en.csv"):
        write_release(root / "news" / name, "https://example.org/1", body)
    return root


def write_release(path: Path, link: str, body: str) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["link", "headline", "date", "body"])
        w.writerow([link, "Talks", "2022-01-10", body])


def tiny_base(path: Path) -> Path:
    """A 2-layer, 32-wide BERT with the packaged MiniLM tokenizer: fast enough to train in a test."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(D.base_encoder_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_sentence_label_rule():
    assert D.newsmtsc_sentence_label([4.0, 4.0]) == "neutral"
    assert D.newsmtsc_sentence_label([2.0, 4.0]) == "negative"
    assert D.newsmtsc_sentence_label([6.0, 4.0]) == "positive"
    assert D.newsmtsc_sentence_label([2.0, 6.0]) is None


def test_split_is_seeded_and_order_free():
    keys = [f"k{i}" for i in range(2000)]
    a = [D.split_of(k, 13, 0.15, 0.10) for k in keys]
    assert a == [D.split_of(k, 13, 0.15, 0.10) for k in reversed(keys)][::-1]
    assert 0.12 < a.count("test") / len(a) < 0.18 and 0.07 < a.count("val") / len(a) < 0.13
    assert a != [D.split_of(k, 14, 0.15, 0.10) for k in keys]


def test_sst2_phrases_are_held_out_with_every_sentence_they_occur_in(tmp_path):
    rows = {"the film is a dull mess .": 0, "a dull mess": 0, "dull": 0, "the music is dull but the cast shines": 1,
            "the cast shines": 1, "shines": 1}
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\n" + "".join(f"{text} \t{label}\n" for text, label in rows.items()))
    items = {e.text: e for e in D.read_sst2(path)}
    assert {t for t, e in items.items() if D.is_full_sentence(e)} == {"the film is a dull mess .", "the music is dull but the cast shines"}
    assert items["dull"].key.split("\n") == ["the film is a dull mess .", "the music is dull but the cast shines"]
    assert items["the cast shines"].key == "the music is dull but the cast shines"
    for seed in range(40):
        split = {t: D.split_of_example("sst2", e.key, seed) for t, e in items.items()}
        first, second = split["the film is a dull mess ."], split["the music is dull but the cast shines"]
        assert split["a dull mess"] == first and split["shines"] == second
        # A phrase of two sentences trains only when both do.
        assert (split["dull"] == "train") == (first == second == "train")


def test_readers(tmp_path):
    root = write_synthetic_data(tmp_path)
    targets = D.read_newsmtsc_targets(root / "newsmtsc" / "train.jsonl")
    assert len(targets) == 36 + 6 and {t.label for t in targets} == {"against", "neutral", "favor"}
    t = targets[0]
    assert t.text[t.spans[0][0] : t.spans[0][1]] == t.target
    ruw = D.read_ruw(root / "ruw" / "train.csv")
    assert len(ruw) == 80 and {e.target for e in ruw} == {"Russia", "Ukraine"}
    moscow = next(e for e in ruw if "Moscow" in e.text and e.target == "Russia")
    assert [moscow.text[s:e] for s, e in moscow.spans] == ["Moscow"]
    sst = D.read_sst2(root / "sst2" / "train.tsv")
    assert len(sst) == 60 and sst[1].label == "positive" and sst[0].label == "negative"


@pytest.mark.parametrize("task", ["stance", "sentiment"])
def test_tiny_training_run_writes_loadable_model(tmp_path, task):
    root = write_synthetic_data(tmp_path / "data")
    base = tiny_base(tmp_path / "base")
    out = tmp_path / task
    argv = ["--task", task, "--data-dir", str(root), "--out", str(out), "--base", str(base), "--epochs", "2", "--max-examples", "40", "--batch-size", "8", "--seed", "3", "--version", "7"]
    assert train.main(argv) == 0
    for name in ("model.safetensors", "config.json", "tokenizer.json", "labels.json", "training_config.json", "data_hashes.json"):
        assert (out / name).is_file(), name
    cfg = json.loads((out / "training_config.json").read_text())
    assert cfg["args"]["seed"] == 3 and len(cfg["history"]) == 2
    assert cfg["base_encoder"] == str(base)  # the card names the encoder it was really trained from
    labels = json.loads((out / "labels.json").read_text())
    assert labels["name"] == f"base-{task}" and labels["version"] == "7"
    hashes = json.loads((out / "data_hashes.json").read_text())
    assert hashes["newsmtsc/train.jsonl"] == file_sha256(root / "newsmtsc" / "train.jsonl")

    if task == "stance":
        clf = load_stance(str(out), device="cpu")
        probs = clf.predict([("Russia", "news from Moscow", [(10, 16)]), ("NATO", "NATO met the mayor.", [(0, 4)])])
    else:
        clf = load_sentiment(str(out), device="cpu")
        probs = clf.predict(["a wonderful film", "Senator 3 met the mayor on Tuesday."])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert len(clf.artifact_hash) == 12

    # The evaluation command reads the same formats and fills the model card.
    args = ["--model", str(out), "--newsmtsc", str(root / "newsmtsc" / "devtest_mt.jsonl"), "--json", str(tmp_path / "m.json"), "--card", str(out)]
    args += ["--ruw", str(root / "ruw" / "train.csv")] if task == "stance" else ["--sst2", str(root / "sst2" / "train.tsv")]
    assert evaluate.main(args) == 0
    result = json.loads((tmp_path / "m.json").read_text())["tasks"][task]["scores"]
    assert "newsmtsc:devtest_mt.jsonl" in result
    if task == "stance":
        assert {"ruw:train.csv:Russia", "ruw:train.csv:Ukraine"} <= set(result)
    assert "ours" in json.loads((out / "metrics.json").read_text())["results"]
    # The card keeps the precision a score was measured in: an int8 run gets its own column.
    assert evaluate.main([*args, "--quantize", "int8"]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["tasks"][task]["quantize"] == "int8"
    columns = json.loads((out / "metrics.json").read_text())["results"]
    assert columns["ours"]["quantize"] == "none" and columns["ours-int8"]["quantize"] == "int8"
    # The card's commands say what was measured, not where this run wrote it.
    assert columns["ours"]["command"].startswith("--model ") and "--json" not in columns["ours"]["command"]
    assert "--card" not in columns["ours"]["command"] and str(tmp_path / "m.json") not in columns["ours"]["command"]
    card = (out / "README.md").read_text()
    assert "## Scores" in card and f"Base encoder: `{base}`" in card


def test_distill_labels_entity_pairs_and_training_learns_from_them(tmp_path):
    from pipeline_train import distill

    root = write_synthetic_data(tmp_path / "data")
    # A second release, which the labelled press set holds (below): none of it may be taught.
    write_release(root / "news" / "zelenskyy_en.csv", "https://example.org/2",
                  "Ukraine asked NATO for more air defence systems this week. Emmanuel Macron spoke with Olaf Scholz.")
    base = tiny_base(tmp_path / "base")
    teacher = tmp_path / "teacher"
    common = ["--data-dir", str(root), "--seed", "3", "--max-examples", "40"]
    assert train.main(["--task", "stance", "--out", str(teacher), "--base", str(base), "--epochs", "1", "--batch-size", "8", "--version", "1", *common]) == 0
    transfer = tmp_path / "transfer.jsonl"
    press_set = tmp_path / "items.jsonl"  # the labelled press set: its releases stay out of the transfer set
    press_set.write_text(json.dumps({"url": "https://example.org/2", "target": "NATO"}) + "\n")
    assert distill.main(["--teacher", str(teacher), "--out", str(transfer), "--news-sentences", "10", "--press-set", str(press_set), *common]) == 0

    header, pairs = D.read_transfer(transfer)
    assert header["teacher_sha256"] == file_sha256(teacher / "model.safetensors")
    assert header["counts"]["news-entity"] > 0 and header["counts"]["newsmtsc-entity"] > 0  # "Paris" in the training sentences
    assert sum(header["counts"].values()) == len(pairs) and header["held_out_releases"] == 1
    assert {"Vladimir Putin", "Emmanuel Macron", "Moscow"} <= {p.target for p in pairs if p.source == "news-entity"}
    assert not any("Scholz" in p.text or "NATO" in p.text for p in pairs)  # only in the held-out release
    # Sentences naming a target, marked as the stance stage marks them; none from the held-out release.
    assert {p.source for p in pairs if p.source.startswith("news-target")} == {"news-target-Russia", "news-target-Ukraine"}
    russia = [p for p in pairs if p.source == "news-target-Russia"]
    assert {p.text for p in russia} == {
        "President Vladimir Putin held talks with Emmanuel Macron in Moscow on the situation in Europe.",
        "The European Union announced new sanctions against Russian banks.",
    }
    talks = next(p for p in russia if p.text.startswith("President"))
    assert talks.target == "Vladimir Putin" and [talks.text[s:e] for s, e in talks.spans] == ["Vladimir Putin", "Moscow"]
    gold = {(e.text, e.spans) for e in D.read_newsmtsc_targets(root / "newsmtsc" / "train.jsonl")}
    for p in pairs:
        assert p.text[p.spans[0][0] : p.spans[0][1]] == p.target
        if not p.source.startswith("news-target"):
            assert len(p.spans) == 1
        assert (p.text, p.spans) not in gold  # gold targets train with their own labels, not the teacher's
        assert len(p.probs) == 3 and abs(sum(p.probs) - 1) < 1e-3

    student = tmp_path / "student"
    argv = ["--task", "stance", "--out", str(student), "--base", str(base), "--epochs", "1", "--batch-size", "8", "--transfer", str(transfer), "--version", "1", *common]
    assert train.main(argv) == 0
    cfg = json.loads((student / "training_config.json").read_text())
    assert cfg["transfer_set"] == header and cfg["examples"]["train"]["transfer"] == min(len(pairs), 40)  # --max-examples 40
    assert json.loads((student / "data_hashes.json").read_text())["transfer/transfer.jsonl"] == file_sha256(transfer)
    assert load_stance(str(student), device="cpu").predict([("NATO", "NATO met the mayor.", [(0, 4)])]).shape == (1, 3)
    with pytest.raises(SystemExit):
        train.parse_args(["--task", "sentiment", "--out", "x", "--version", "1", "--transfer", str(transfer)])
    with pytest.raises(SystemExit, match="--seed 3"):  # another seed's val part may hold the transfer sentences
        D.load_task_data("stance", root, 4, 40, 0, str(transfer))


def test_train_refuses_to_run_without_a_model_version(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--task", "stance", "--out", "x"])
    assert "--version" in capsys.readouterr().err


def test_soft_and_hard_labels_give_the_same_loss_for_one_hot_probabilities():
    from transformers import BertConfig, BertModel

    from pipeline.heads import HeadsModel

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = HeadsModel(BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32), add_pooling_layer=False), {"mention": "pair"}).eval()
    rows = [{"input_ids": [2, 5, 7, 3], "attention_mask": [1] * 4, "token_type_ids": [0] * 4, "target_mask": [0, 1, 0, 0], "labels": {"mention": label}} for label in (0, 2)]
    hard = train.batch_loss(model, rows, "cpu", 0)
    soft = train.batch_loss(model, [{**r, "labels": {"mention": [float(i == r["labels"]["mention"]) for i in range(3)]}} for r in rows], "cpu", 0)
    assert torch.isclose(hard, soft)
    uniform = train.batch_loss(model, [{**r, "labels": {"mention": [1 / 3] * 3}} for r in rows], "cpu", 0)
    assert not torch.isclose(hard, uniform)


def test_vader_baseline_runs(tmp_path, capsys):
    root = write_synthetic_data(tmp_path)
    argv = ["--baseline", "vader", "--newsmtsc", str(root / "newsmtsc" / "devtest_mt.jsonl"), "--ruw", str(root / "ruw" / "train.csv"), "--sst2", str(root / "sst2" / "train.tsv")]
    assert evaluate.main(argv) == 0
    out = capsys.readouterr().out
    assert "ruw:train.csv:Russia" in out and "sst2-sentences:train.tsv" in out


def test_real_data_splits_are_disjoint():
    if not (SHARED / "ruw" / "train.csv").is_file():
        pytest.skip(f"shared data not present at {SHARED}")
    _, splits, _ = D.load_task_data("stance", SHARED, 13, None, 0)
    train_keys = {e.key for e in splits["train"]["ruw"]}
    test_keys = {e.key for e in splits["test"]["ruw"]}
    assert train_keys and test_keys and not train_keys & test_keys
    assert 0.12 < len(test_keys) / 4200 < 0.18
    _, splits, _ = D.load_task_data("sentiment", SHARED, 13, None, 10**6)
    test_sentences = [f" {e.text} " for e in splits["test"]["sst2"] if D.is_full_sentence(e)]
    assert 900 < len(test_sentences) < 1200
    inside = {f" {e.text} " for e in splits["train"]["sst2"]}
    assert not any(phrase in sentence for sentence in test_sentences[:300] for phrase in inside)


def test_a_source_with_repeat_zero_gets_no_batches():
    news = [{"input_ids": [1] * (i % 7 + 2), "labels": {"mention": 0}} for i in range(10)]
    tweets = [{"input_ids": [2] * 3, "labels": {"russia": 1}} for _ in range(6)]
    rng = np.random.default_rng(0)
    batches = train.epoch_batches([news, tweets], 4, rng, [1, 0])
    assert sorted(len(b) for b in batches) == [2, 4, 4]
    assert all("mention" in r["labels"] for b in batches for r in b)
    assert sum(len(b) for b in train.epoch_batches([news, tweets], 4, rng, [1, 2])) == 10 + 12


def test_the_runtime_goes_without_the_training_package():
    importers = [
        str(path.relative_to(ROOT))
        for folder in ("pipeline", "workers")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"^\s*(from|import) pipeline_train\b", path.read_text(), re.M)
    ]
    assert importers == []
    assert not re.search(r"^COPY\s+pipeline_train", (ROOT / "Dockerfile").read_text(), re.M), "the worker image must leave it out"


def test_the_cli_asks_for_the_train_extra_when_it_is_missing(monkeypatch, capsys):
    from pipeline import cli

    for name in ("pipeline_train.train", "sklearn.metrics"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    assert cli.main(["train", "--help"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: train needs 'sklearn") and err.endswith(": install the train extra: pip install -e '.[train]'\n")
    assert err.count("\n") == 1


def test_low_rank_adapters_train_only_themselves_and_fold_into_the_base_at_load():
    from transformers import BertConfig, BertModel

    from pipeline.heads import HeadsModel, merge_low_rank
    from pipeline_train.lora import add_lora

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    base = BertModel(config, add_pooling_layer=False)
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    model = HeadsModel(base, {"mention": "pair"})
    assert add_lora(model, rank=2, alpha=4) == 2 * 6  # q, k, v, attention output, intermediate, output per layer
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(n.startswith("heads.") or n.endswith((".lora_A", ".lora_B")) for n in trained)
    with torch.no_grad():  # B starts at zero; give it something to fold in
        for name, param in model.named_parameters():
            if name.endswith(".lora_B"):
                param.normal_()
    model.eval()
    batch = {"input_ids": torch.tensor([[2, 5, 7, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long),
             "token_type_ids": torch.zeros(1, 4, dtype=torch.long), "target_mask": torch.tensor([[0, 1, 0, 0]])}
    adapted = model.probs(batch, ["mention"])

    plain = BertModel(config, add_pooling_layer=False)
    plain.load_state_dict(base_state)
    loaded = HeadsModel(plain, {"mention": "pair"}).eval()
    delta = {n: p.detach().clone() for n, p in model.named_parameters() if n in trained}
    loaded.load_state_dict({k: v for k, v in delta.items() if k.startswith("heads.")}, strict=False)
    assert not torch.allclose(loaded.probs(batch, ["mention"]), adapted, atol=1e-3)  # the adapters matter
    merge_low_rank(loaded, delta, {"rank": 2, "alpha": 4})
    assert all(k.startswith("heads.") for k in delta)  # the factors were taken out
    assert torch.allclose(loaded.probs(batch, ["mention"]), adapted, atol=1e-5)


def test_a_delta_needs_a_base_and_one_kind(capsys):
    for extra, message in ((["--lora-rank", "4"], "name the base folder"),
                           (["--base", "b", "--lora-rank", "4", "--train-top-layers", "2"], "choose one")):
        with pytest.raises(SystemExit):
            train.parse_args(["--task", "stance", "--out", "x", "--version", "1", *extra])
        assert message in capsys.readouterr().err
