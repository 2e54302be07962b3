"""The classifier API: shipped models on sentences whose answer is not in doubt, batching and
order, and the generic Hugging Face path with a tiny model built on the fly."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from pipeline import classifiers as C
from pipeline.encoding import mark_mentions
from pipeline.labels import NLI_HYPOTHESES, SENTIMENT_LABELS, STANCE_LABELS, map_labels
from pipeline.shipped import MODELS_DIR
from tests.conftest import tiny_hf_classifier

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _builtin(task):
    # The models ship with the package: a missing one is a broken build, not a reason to skip.
    assert (MODELS_DIR / task / "labels.json").is_file(), f"pipeline/models/{task} is missing"
    return C.load_sentiment() if task == "sentiment" else C.load_stance()


@pytest.fixture(scope="module")
def sentiment():
    return _builtin("sentiment")


@pytest.fixture(scope="module")
def stance():
    return _builtin("stance")


def _label(probs, labels):
    return [labels[i] for i in probs.argmax(1)]


def test_builtin_sentiment_clear_cases(sentiment):
    texts = [
        "The film was a delight from start to finish.",
        "The movie was a boring, dreadful waste of time.",
        "The committee will meet on Tuesday to discuss the budget.",
    ]
    probs = sentiment.predict(texts)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert _label(probs, SENTIMENT_LABELS) == ["positive", "negative", "neutral"]
    assert type(sentiment) is C.HeadsClassifier
    assert sentiment.device == "cpu" or sentiment.device.startswith("cuda")
    assert len(sentiment.artifact_hash) == 12 and sentiment.name and sentiment.version


def test_builtin_stance_clear_cases(stance):
    s1 = "NATO allies condemned Russia's invasion of Ukraine."
    s2 = "Ukraine's brave soldiers heroically defended their homeland against the invaders."
    items = [
        ("Russia", s1, [(s1.index("Russia"), s1.index("Russia") + 6)]),
        ("Ukraine", s2, [(0, 7)]),
        ("Russia", "Russia's brutal war has killed thousands of innocent civilians.", [(0, 6)]),
    ]
    probs = stance.predict(items)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert _label(probs, STANCE_LABELS) == ["against", "favor", "against"]


def test_builtin_stance_mention_head_for_other_targets(stance):
    s = "NATO was praised for its strong and generous support of its members."
    probs = stance.predict([("NATO", s, [(0, 4)]), ("NATO", s, [])])
    assert _label(probs, STANCE_LABELS)[0] == "favor"
    assert probs.shape == (2, 3)


def test_a_sentence_of_a_longer_text_goes_to_the_mention_head(stance):
    # The whole-text heads learned from whole tweets; one sentence of a press release with its
    # mention marked is what the mention head learned from (NewsMTSC), whatever the target.
    s = "Moscow rejected the proposal outright."
    as_sentence, as_whole = stance.predict([("Russia", s, [(0, 6)])] * 2, [False, True])
    assert np.allclose(as_sentence, stance.predict([("Some target", s, [(0, 6)])])[0], atol=1e-5)
    assert not np.allclose(as_sentence, as_whole, atol=1e-3)
    assert np.allclose(as_whole, stance.predict([("Russia", s, [(0, 6)])])[0], atol=1e-5)  # default: whole
    with pytest.raises(ValueError, match="1 flags for 2 items"):
        stance.predict([("Russia", s, [])] * 2, [True])


def test_int8_keeps_the_clear_cases_and_says_so(sentiment):
    quantized = C.load_sentiment(quantize="int8", device="cpu")
    texts = [
        "The film was a delight from start to finish.",
        "The movie was a boring, dreadful waste of time.",
        "The committee will meet on Tuesday to discuss the budget.",
    ]
    assert _label(quantized.predict(texts), SENTIMENT_LABELS) == ["positive", "negative", "neutral"]
    assert np.abs(quantized.predict(texts) - sentiment.predict(texts)).max() < 0.15
    assert quantized.model_id == f"{sentiment.model_id} int8" and sentiment.quantize == "none"
    layer = quantized.model.encoder.encoder.layer[0]
    # The encoder's Linear layers run in int8 but for the feed-forward up-projection; the head stays fp32.
    for module in (layer.attention.self.query, layer.attention.output.dense, layer.output.dense):
        assert type(module).__module__.startswith("torch.ao.nn.quantized")
    assert type(layer.intermediate.dense) is torch.nn.Linear
    assert type(quantized.model.heads["sentence"]) is torch.nn.Linear


def test_unknown_quantize_mode_is_an_error():
    with pytest.raises(ValueError, match="quantize"):
        C.load_sentiment(quantize="int4", device="cpu")


def _encoded_rows(clf, call):
    """How many sequences the encoder saw during call()."""
    seen = []
    hook = clf.model.encoder.register_forward_hook(lambda _m, args, kwargs, _out: seen.append(len(kwargs["input_ids"])), with_kwargs=True)
    try:
        result = call()
    finally:
        hook.remove()
    return result, sum(seen)


def test_each_distinct_sentence_is_encoded_once(stance, sentiment):
    s1 = "Russia and Ukraine exchanged prisoners on Friday."
    s2 = "Russia shelled the city again."
    items = [("Russia", s1, [(0, 6)]), ("Ukraine", s1, [(11, 18)]), ("Russia", s2, [(0, 6)]), ("Ukraine", s1, [])]
    probs, rows = _encoded_rows(stance, lambda: stance.predict(items))
    assert rows == 2  # s1 feeds both target heads from one pass
    alone = np.concatenate([stance.predict([item]) for item in items])
    assert np.allclose(probs, alone, atol=1e-4)
    texts = [s1, s2, s1, s1]
    probs, rows = _encoded_rows(sentiment, lambda: sentiment.predict(texts))
    assert rows == 2 and np.allclose(probs[0], probs[2]) and np.allclose(probs[0], probs[3])


def test_predict_restores_input_order(sentiment):
    texts = ["Great!", "This is a much longer sentence about the weather in the north of the country today.", "Awful.", "Great!", ""]
    batched = sentiment.predict(texts)
    single = np.concatenate([sentiment.predict([t]) for t in texts])
    assert np.allclose(batched, single, atol=1e-4)
    assert sentiment.predict([]).shape == (0, 3)


def test_mark_mentions():
    text, spans = mark_mentions("Putin met Biden and Putin left.", [(20, 25), (0, 5)])
    assert text == "[[Putin]] met Biden and [[Putin]] left."
    assert [text[s:e] for s, e in spans] == ["[[Putin]]", "[[Putin]]"]


def test_map_labels():
    assert map_labels({0: "NEGATIVE", 1: "POSITIVE"}, "sentiment") == [0, -1, 1]
    assert map_labels({0: "LABEL_0", 1: "LABEL_1"}, "sentiment") == [0, -1, 1]
    assert map_labels({0: "pos", 1: "neu", 2: "neg"}, "sentiment") == [2, 1, 0]
    assert map_labels({0: "FAVOR", 1: "AGAINST", 2: "NONE"}, "stance") == [1, 2, 0]
    with pytest.raises(ValueError, match="joy"):
        map_labels({0: "joy", 1: "anger", 2: "sadness"}, "sentiment")


def test_hf_sentiment_model_from_directory(tmp_path):
    # Labels in an unusual order: the classifier must reorder columns to ours.
    model, tokenizer = tiny_hf_classifier(tmp_path, ["positive", "negative", "neutral"])
    clf = C.load_sentiment(str(tmp_path), device="cpu", batch_size=2)
    texts = ["short", "a somewhat longer text to force padding", "mid length text"]
    probs = clf.predict(texts)
    with torch.inference_mode():
        raw = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.softmax(-1).numpy()
    assert np.allclose(probs, raw[:, [1, 2, 0]], atol=1e-4)
    assert type(clf) is C.HFClassifier
    assert clf.device == "cpu" and len(clf.artifact_hash) == 12 and clf.name == str(tmp_path)


def test_hf_stance_model_from_directory(tmp_path):
    tiny_hf_classifier(tmp_path, ["AGAINST", "NONE", "FAVOR"])
    clf = C.load_stance(str(tmp_path), device="cpu")
    probs = clf.predict([("NATO", "NATO met today.", [(0, 4)]), ("Russia", "Nothing.", [])])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert clf.predict([]).shape == (0, 3)


@pytest.mark.parametrize("labels", [("entailment", "neutral", "contradiction"), ("not_entailment", "ENTAILMENT")])
def test_nli_model_scores_zero_shot(tmp_path, labels):
    # An NLI model is used zero-shot: for each item, softmax over the entailment logits of one
    # hypothesis per label, with the sentence as premise and the configured target named.
    # Large initial weights: with the default 0.02 a random model scores every hypothesis alike.
    model, tokenizer = tiny_hf_classifier(tmp_path, labels, initializer_range=1.0)
    entail = [name.lower() for name in labels].index("entailment")

    def expected(premise, hypotheses):
        with torch.inference_mode():
            enc = tokenizer([premise] * len(hypotheses), list(hypotheses), padding=True, return_tensors="pt")
            return model(**enc).logits[:, entail].softmax(-1).numpy()

    stance = C.load_stance(str(tmp_path), device="cpu", batch_size=2)
    assert type(stance) is C.NliZeroShotClassifier
    items = [("NATO", "NATO allies met in Brussels on Tuesday to discuss air defence.", [(0, 4)]), ("Russia", "Moscow said nothing.", [(0, 6)])]
    probs = stance.predict(items)
    for (target, sentence, _), row in zip(items, probs):
        hypotheses = [h.format(target=target) for h in NLI_HYPOTHESES["stance"]]
        assert hypotheses[2] == f"This text is in favor of {target}."
        assert np.allclose(row, expected(sentence, hypotheses), atol=1e-4)
    assert np.abs(probs - 1 / 3).max() > 0.05  # far enough from uniform for the comparison to mean something

    sentiment = C.load_sentiment(str(tmp_path), device="cpu", batch_size=2)
    texts = ["Prices rose.", "A long and winding sentence about nothing much at all.", "Prices rose."]
    probs = sentiment.predict(texts)
    for text, row in zip(texts, probs):
        assert np.allclose(row, expected(text, NLI_HYPOTHESES["sentiment"]), atol=1e-4)
    assert sentiment.predict([]).shape == (0, 3) and stance.predict([]).shape == (0, 3)


def test_hf_model_in_int8(tmp_path):
    tiny_hf_classifier(tmp_path, ["negative", "neutral", "positive"])
    fp32 = C.load_sentiment(str(tmp_path), device="cpu")
    int8 = C.load_sentiment(str(tmp_path), device="cpu", quantize="int8")
    texts = ["short", "a somewhat longer text to force padding"]
    assert int8.model_id.endswith(" int8") and not fp32.model_id.endswith(" int8")
    assert np.abs(int8.predict(texts) - fp32.predict(texts)).max() < 0.05


def test_auto_quantizes_only_the_shipped_models(tmp_path):
    # int8's quality cost is measured for the shipped models only; any other model stays fp32 unless asked.
    tiny_hf_classifier(tmp_path, ["negative", "neutral", "positive"])
    assert C.load_sentiment(str(tmp_path), device="cpu", quantize="auto").quantize == "none"
    builtin = C.load_sentiment("builtin", device="cpu", quantize="auto")
    assert builtin.quantize == "int8" and builtin.model_id.endswith(" int8")


def test_hf_model_with_unmappable_labels(tmp_path):
    tiny_hf_classifier(tmp_path, ["joy", "anger", "sadness"])
    with pytest.raises(ValueError, match="joy.*anger|anger.*joy"):
        C.load_sentiment(str(tmp_path), device="cpu")


def test_missing_directory_is_an_error(tmp_path):
    with pytest.raises(OSError, match="nope"):
        C.load_stance(str(tmp_path / "nope"), device="cpu")
